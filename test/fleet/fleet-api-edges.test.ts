/**
 * The fleet-health routes at their edges, as an attacker or an ordinary client that follows a
 * cursor a moment later would reach them: months and dates past year 9999 in UTC, a cursor
 * followed after the clock moved, forged cursors of the right listing whose key lies outside
 * the query's bounds. Each is a 2xx or a 4xx problem, never a 500.
 */
import type { APIGatewayProxyResult } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness } from "../support/poll-harness.js";
import { apiOver, body } from "./api-fleet.js";

const dynamo = useDynalite();
const MINUTE = 60_000;

function problem(result: APIGatewayProxyResult, status: number, slug: string) {
  expect(result.statusCode, result.body).toBe(status);
  expect(result.headers?.["Content-Type"]).toBe("application/problem+json");
  expect(JSON.parse(result.body)).toMatchObject({ status, type: `urn:evse-ops:problem:${slug}` });
}

describe("the fleet-health routes at their edges", () => {
  let harness: Awaited<ReturnType<typeof startPollHarness>>;
  let api: ReturnType<typeof apiOver>;
  let device: string;
  beforeAll(async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 3, seed: 3 } });
    await harness.poll();
    device = harness.sim.fleet.list()[0]?.id ?? "";
    // Six history entries for the device: it falls silent and comes back three times.
    for (let i = 0; i < 3; i++) {
      harness.sim.fleet.silence(1);
      harness.clock.advance(20 * MINUTE);
      harness.sim.fleet.sampleAll();
      await harness.poll();
      harness.sim.fleet.recover();
      harness.clock.advance(5 * MINUTE);
      harness.sim.fleet.sampleAll();
      await harness.poll();
    }
    api = apiOver(dynamo, harness.tableName, harness.clock);
  });
  afterAll(() => harness.close());

  it("answers a month past year 9999 in UTC, or far ahead, as not begun", async () => {
    const queries: Array<Record<string, string>> = [
      { month: "9999-12" },
      { month: "9999-12", tz: "Europe/London" },
      { month: "2999-01", tz: "Pacific/Kiritimati" },
    ];
    for (const query of queries) {
      problem(await api.get("/fleet/availability", query), 400, "invalid-request");
    }
  });

  it("takes IANA zone names for tz, not offsets", async () => {
    for (const tz of ["+05:30", "-08", "05:30"]) {
      problem(
        await api.get("/fleet/availability", { month: "2026-02", tz }),
        400,
        "invalid-request",
      );
    }
    body(await api.get("/fleet/availability", { month: "2026-02", tz: "Etc/GMT+5" }));
  });

  it("reads history up to now when `to` is later than now, even past year 9999 in UTC", async () => {
    const late = body<{ items: unknown[] }>(
      await api.get(`/evses/${device}/history`, { to: "9999-12-31T23:59:59-12:00" }),
    );
    const plain = body<{ items: unknown[] }>(await api.get(`/evses/${device}/history`));
    expect(late.items).toEqual(plain.items);
    expect(late.items.length).toBeGreaterThan(6);
  });

  it("follows a history cursor after the clock moved, when `to` was left to default to now", async () => {
    const all: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: unknown[]; nextCursor: string | null } = body(
        await api.get(`/evses/${device}/history`, { limit: "2", ...(cursor ? { cursor } : {}) }),
      );
      all.push(...page.items);
      cursor = page.nextCursor;
      harness.clock.advance(1_000);
    } while (cursor !== null);
    const whole = body<{ items: unknown[] }>(await api.get(`/evses/${device}/history`));
    expect(all).toEqual(whole.items);
  });

  /** A cursor the API issued for `path` and `query`, with its key's `name` set to `value`. */
  async function forged(path: string, query: Record<string, string>, name: string, value: string) {
    const page = body<{ nextCursor: string | null }>(await api.get(path, { ...query, limit: "1" }));
    expect(page.nextCursor).not.toBeNull();
    const cursor = JSON.parse(Buffer.from(page.nextCursor ?? "", "base64url").toString()) as {
      k: Record<string, string>;
    };
    cursor.k[name] = value;
    return Buffer.from(JSON.stringify(cursor)).toString("base64url");
  }

  it("refuses a forged history cursor whose key is outside the query's bounds", async () => {
    const query = {
      from: "2000-01-01T00:00:00.000Z",
      to: new Date(harness.clock.now()).toISOString(),
    };
    const path = `/evses/${device}/history`;
    const cursor = await forged(path, query, "sk", "2999-01-01T00:00:00.000Z#x");
    problem(await api.get(path, { ...query, cursor }), 400, "invalid-cursor");
  });

  it("refuses a forged silent-charger cursor whose sample is younger than silentFor", async () => {
    harness.sim.fleet.silence(1);
    harness.clock.advance(2 * 60 * MINUTE);
    await harness.poll();
    const query = { connectivity: "offline", silentFor: "PT1H" };
    const cursor = await forged("/evses", query, "gsi2sk", `2999-01-01T00:00:00.000Z#${device}`);
    problem(await api.get("/evses", { ...query, cursor }), 400, "invalid-cursor");
  });
});
