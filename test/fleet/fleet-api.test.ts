/**
 * The fleet-health routes over a table the poll filled: the silent chargers (oldest sample
 * first, paged), the snapshot, and bad input of every kind answered with an RFC 9457 problem
 * that changes nothing stored.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyResult } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness } from "../support/poll-harness.js";
import { apiOver, body } from "./api-fleet.js";

const dynamo = useDynalite();
const MINUTE = 60_000;

function problem(result: APIGatewayProxyResult, status: number) {
  expect(result.statusCode, result.body).toBe(status);
  expect(result.headers?.["Content-Type"]).toBe("application/problem+json");
  const parsed = JSON.parse(result.body) as Record<string, unknown>;
  expect(parsed).toMatchObject({ status });
  expect(String(parsed.type)).toMatch(/^urn:evse-ops:problem:/);
  expect(typeof parsed.title).toBe("string");
  expect(String(parsed.detail).length).toBeGreaterThan(10);
  return parsed;
}

describe("the fleet-health routes", () => {
  let world: Awaited<ReturnType<typeof filled>>;
  beforeAll(async () => {
    world = await filled();
    return () => world.harness.close();
  });

  /** 250 devices, a first sweep; then about 40 silent for a day and 30 for an hour. */
  async function filled() {
    const harness = await startPollHarness(dynamo, { simulator: { fleetSize: 250, seed: 4 } });
    const { sim, clock } = harness;
    await harness.poll();
    const days = sim.fleet.silence(0.18);
    clock.advance(25 * 60 * MINUTE);
    sim.fleet.sampleAll();
    const hour = sim.fleet.silence(0.14);
    clock.advance(61 * MINUTE);
    sim.fleet.sampleAll();
    const run = await harness.poll();
    expect(run.sweepComplete).toBe(true);
    return { harness, days, hour, api: apiOver(dynamo, harness.tableName, clock) };
  }

  async function everything(query: Record<string, string>) {
    const items: Array<{ evseId: string; sampledAt: string; silentFor: string }> = [];
    let pages = 0;
    let cursor: string | undefined;
    do {
      const page = body<{ items: typeof items; nextCursor: string | null }>(
        await world.api.get("/evses", { ...query, ...(cursor ? { cursor } : {}) }),
      );
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    return { items, pages };
  }

  it("lists the chargers silent for longer than silentFor, oldest sample first, paged", async () => {
    const { items, pages } = await everything({
      connectivity: "offline",
      silentFor: "P1D",
      limit: "10",
    });
    const silentForADay = new Set(world.days);
    // The seeded fleet also has chargers silent since before the first sweep.
    for (const id of world.days) expect(items.map((item) => item.evseId)).toContain(id);
    for (const id of world.hour) expect(items.map((item) => item.evseId)).not.toContain(id);
    const now = world.harness.clock.now();
    for (const item of items)
      expect(now - Date.parse(item.sampledAt)).toBeGreaterThanOrEqual(86_400_000);
    const times = items.map((item) => Date.parse(item.sampledAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(items.length / 10));
    // Their last sample came a minute or two before they fell silent, 26 h 1 min ago.
    expect(items.find((item) => silentForADay.has(item.evseId))?.silentFor).toMatch(
      /^P1DT2H[1-4]M$/,
    );
    expect(items.length).toBeGreaterThanOrEqual(world.days.length);

    const offline = await everything({ connectivity: "offline", limit: "100" });
    const allOffline = offline.items.map((item) => item.evseId);
    for (const id of [...world.days, ...world.hour]) expect(allOffline).toContain(id);
    const shorter = await everything({ connectivity: "offline", silentFor: "PT50M" });
    expect(shorter.items.length).toBe(offline.items.length);
  });

  it("serves the latest snapshot", async () => {
    const snapshot = body(await world.api.get("/fleet"));
    expect(snapshot).toMatchObject({ devices: { active: 250 }, lifecycle: { removed: 0 } });
    expect(snapshot).toEqual(await world.harness.reader.latestSnapshot());
  });

  it("answers 404 for the snapshot before any sweep completed", async () => {
    const harness = await startPollHarness(dynamo, { simulator: { fleetSize: 1 } });
    try {
      const api = apiOver(dynamo, harness.tableName, harness.clock);
      const refused = problem(await api.get("/fleet"), 404);
      expect(refused.type).toBe("urn:evse-ops:problem:fleet-snapshot-not-found");
    } finally {
      await harness.close();
    }
  });

  describe("bad input gets an RFC 9457 problem and changes nothing", () => {
    const device = () => world.harness.sim.fleet.list()[0]?.id ?? "";
    const other = () => world.harness.sim.fleet.list()[1]?.id ?? "";
    const history = (query: Record<string, string>) =>
      world.api.get(`/evses/${device()}/history`, query);

    async function cursorOf(path: string, query: Record<string, string>) {
      const page = body<{ nextCursor: string | null }>(await world.api.get(path, query));
      if (!page.nextCursor) throw new Error(`${path} gave no cursor`);
      return page.nextCursor;
    }

    const cases: Array<[string, () => Promise<APIGatewayProxyResult>, number, RegExp]> = [
      ["history from not a date", () => history({ from: "yesterday" }), 400, /from.*ISO 8601/],
      [
        "history from without a time zone",
        () => history({ from: "2026-03-01T00:00:00" }),
        400,
        /from/,
      ],
      [
        "history from after to",
        () => history({ from: "2026-03-02T00:00:00Z", to: "2026-03-01T00:00:00Z" }),
        400,
        /from must not be after to/,
      ],
      ["history limit 0", () => history({ limit: "0" }), 400, /limit/],
      ["history limit 101", () => history({ limit: "101" }), 400, /limit/],
      ["history limit not a number", () => history({ limit: "ten" }), 400, /limit/],
      ["history with an unknown parameter", () => history({ since: "P1D" }), 400, /since/],
      ["history with a tampered cursor", () => history({ cursor: "eyJ2IjoxfQ" }), 400, /cursor/],
      [
        "history with another device's cursor",
        async () => {
          const cursor = await cursorOf(`/evses/${other()}/history`, { limit: "1" });
          return history({ cursor });
        },
        400,
        /cursor/,
      ],
      [
        "history with a cursor of other bounds",
        async () => {
          const cursor = await cursorOf(`/evses/${device()}/history`, { limit: "1" });
          return history({ cursor, from: "2026-01-01T00:00:00Z" });
        },
        400,
        /cursor/,
      ],
      [
        "history of an unknown device",
        () => world.api.get(`/evses/evse${"Z".repeat(26)}/history`),
        404,
        /never been seen/,
      ],
      ["history of a malformed id", () => world.api.get("/evses/nope/history"), 404, /nope/],
      [
        "silentFor not a duration",
        () => world.api.get("/evses", { connectivity: "offline", silentFor: "7D" }),
        400,
        /silentFor.*ISO 8601 duration/,
      ],
      [
        "silentFor in weeks",
        () => world.api.get("/evses", { connectivity: "offline", silentFor: "P1W" }),
        400,
        /silentFor/,
      ],
      [
        "silentFor with nothing after T",
        () => world.api.get("/evses", { connectivity: "offline", silentFor: "P1DT" }),
        400,
        /silentFor/,
      ],
      [
        "silentFor without connectivity=offline",
        () => world.api.get("/evses", { silentFor: "P7D" }),
        400,
        /connectivity=offline/,
      ],
      [
        "connectivity=online",
        () => world.api.get("/evses", { connectivity: "online" }),
        400,
        /whole fleet/,
      ],
      [
        "connectivity=offline with lifecycle=removed",
        () => world.api.get("/evses", { connectivity: "offline", lifecycle: "removed" }),
        400,
        /lifecycle/,
      ],
      [
        "silentFor with another listing's cursor",
        async () => {
          const cursor = await cursorOf("/evses", { limit: "1" });
          return world.api.get("/evses", { connectivity: "offline", silentFor: "P1D", cursor });
        },
        400,
        /cursor/,
      ],
      [
        "silentFor with a cursor of another duration",
        async () => {
          const cursor = await cursorOf("/evses", {
            connectivity: "offline",
            silentFor: "P1D",
            limit: "1",
          });
          return world.api.get("/evses", { connectivity: "offline", silentFor: "PT1H", cursor });
        },
        400,
        /cursor/,
      ],
      [
        "availability from after to",
        () =>
          world.api.get(`/evses/${device()}/availability`, {
            from: "2026-03-02T00:00:00Z",
            to: "2026-03-01T00:00:00Z",
          }),
        400,
        /before/,
      ],
      [
        "availability older than the rollups",
        () => world.api.get(`/evses/${device()}/availability`, { from: "2024-01-01T00:00:00Z" }),
        400,
        /13 months/,
      ],
      ["a report without a month", () => world.api.get("/fleet/availability"), 400, /month/],
      [
        "a report for month 13",
        () => world.api.get("/fleet/availability", { month: "2026-13" }),
        400,
        /YYYY-MM/,
      ],
      [
        "a report for a month to come",
        () => world.api.get("/fleet/availability", { month: "2027-01" }),
        400,
        /has not begun/,
      ],
      [
        "a report older than the rollups",
        () => world.api.get("/fleet/availability", { month: "2024-12" }),
        400,
        /13 months/,
      ],
      [
        "a report in an unknown time zone",
        () => world.api.get("/fleet/availability", { month: "2026-03", tz: "Mars/Olympus" }),
        400,
        /IANA time zone/,
      ],
      [
        "a report page of 5,001 rows",
        () => world.api.get("/fleet/availability", { month: "2026-03", limit: "5001" }),
        400,
        /5000/,
      ],
      [
        "a report with another month's cursor",
        async () => {
          const cursor = await cursorOf("/fleet/availability", { month: "2026-03", limit: "1" });
          return world.api.get("/fleet/availability", { month: "2026-02", cursor });
        },
        400,
        /cursor/,
      ],
      [
        "a report as XML",
        () =>
          world.api.get("/fleet/availability", { month: "2026-03" }, [
            ["Accept", "application/xml"],
          ]),
        406,
        /application\/json or text\/csv/,
      ],
      ["the snapshot with a parameter", () => world.api.get("/fleet", { x: "1" }), 400, /x/],
    ];

    it.for(cases)("%s", async ([, call, status, detail]) => {
      const scan = async () =>
        (await dynamo.documents.send(new ScanCommand({ TableName: world.harness.tableName })))
          .Items;
      const before = await scan();
      const refused = problem(await call(), status);
      expect(String(refused.detail)).toMatch(detail);
      expect(await scan()).toEqual(before);
    });
  });
});

describe("a silent charger decommissioned by the executor", () => {
  it("leaves the silent list at once, and the offline index with the poll's next sweep", async () => {
    const harness = await startPollHarness(dynamo, { simulator: { fleetSize: 30, seed: 2 } });
    try {
      const { sim, clock } = harness;
      await harness.poll();
      const [silent] = sim.fleet.silence(0.1);
      clock.advance(20 * MINUTE);
      sim.fleet.sampleAll();
      await harness.poll();
      const api = apiOver(dynamo, harness.tableName, clock);
      const listed = async () =>
        body<{ items: Array<{ evseId: string }> }>(
          await api.get("/evses", { connectivity: "offline", silentFor: "PT15M" }),
        ).items.map((item) => item.evseId);
      expect(await listed()).toContain(silent);

      sim.fleet.remove(silent ?? "");
      await harness.devices.markDecommissioned(silent ?? "", new Date(clock.now()).toISOString());
      expect(await listed()).not.toContain(silent);
      const indexed = async () =>
        (
          await dynamo.documents.send(
            new ScanCommand({ TableName: harness.tableName, IndexName: "gsi2" }),
          )
        ).Items?.map((item) => item.evseId);
      expect(await indexed()).toContain(silent);

      clock.advance(5 * MINUTE);
      sim.fleet.sampleAll();
      await harness.poll();
      expect(await indexed()).not.toContain(silent);
      const history = await harness.history(silent ?? "");
      expect(history[0]).toMatchObject({ type: "EVSE Decommissioned", observedBy: "executor" });
      expect(history.filter((entry) => entry.type === "EVSE Decommissioned")).toHaveLength(1);
    } finally {
      await harness.close();
    }
  });
});
