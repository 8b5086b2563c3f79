/**
 * Availability over a scripted month, end to end: the poll over the simulator and the embedded
 * DynamoDB at chosen moments of March 2026 (an outage across midnight, one across the month's
 * end detected in April, a device discovered mid-month, a removal, a decommission by the
 * executor), then the API's reports, against a table computed by hand.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Availability } from "../../functions/core/availability.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness } from "../support/poll-harness.js";
import { apiOver, body } from "./api-fleet.js";

const dynamo = useDynalite();

type Row = Availability & { evseId: string };

/** [device, inFleet, online, offline, excluded, availability %, outages, longest, state at end] */
type Expected = [string, number, number, number, number, number, number, number, string];

function rowsOf(expected: Expected[], ids: Record<string, string>): Row[] {
  return expected
    .map(([name, inFleet, online, offline, excluded, percent, outages, longest, state]) => ({
      evseId: ids[name] ?? name,
      inFleetMinutes: inFleet,
      onlineMinutes: online,
      offlineMinutes: offline,
      unknownMinutes: 0,
      excludedMinutes: excluded,
      availabilityPercent: percent,
      outages,
      longestOutageMinutes: longest,
      stateAtEnd: state,
    }))
    .sort((a, b) => (a.evseId < b.evseId ? -1 : 1));
}

/**
 * By hand, March 2026 in UTC (44,640 minutes), staleness 15 minutes:
 * - A reports throughout.
 * - B's last sample is 10 Mar 23:40; offline from 23:55; back with a sample at 11 Mar 02:05:
 *   130 minutes across midnight.
 * - C's last sample is 31 Mar 23:20; offline from 23:35 (detected on 1 Apr at 00:10); back at
 *   1 Apr 00:40: 25 minutes in March, 40 in April.
 * - D is no longer listed from 15 Mar 12:00; the sweep at 12:05 removes it: in the fleet
 *   20,160 + 725 = 20,885 minutes.
 * - E is decommissioned by the executor at 20 Mar 10:00: in the fleet 27,360 + 600 = 27,960.
 * - F is added on 5 Mar at 06:00 and first seen at 06:05: excluded 5,760 + 365 = 6,125.
 */
const MARCH_UTC: Expected[] = [
  ["A", 44_640, 44_640, 0, 0, 100, 0, 0, "online"],
  ["B", 44_640, 44_510, 130, 0, 99.709, 1, 130, "online"],
  ["C", 44_640, 44_615, 25, 0, 99.944, 1, 25, "offline"],
  ["D", 20_885, 20_885, 0, 23_755, 100, 0, 0, "removed"],
  ["E", 27_960, 27_960, 0, 16_680, 100, 0, 0, "decommissioned"],
  ["F", 38_515, 38_515, 0, 6_125, 100, 0, 0, "online"],
];

/**
 * March 2026 in America/New_York: 1 Mar 05:00Z to 1 Apr 04:00Z (DST from 8 Mar), 44,580
 * minutes. C's outage (31 Mar 23:35Z to 1 Apr 00:40Z) lies wholly inside: 65 minutes.
 */
const MARCH_NEW_YORK: Expected[] = [
  ["A", 44_580, 44_580, 0, 0, 100, 0, 0, "online"],
  ["B", 44_580, 44_450, 130, 0, 99.708, 1, 130, "online"],
  ["C", 44_580, 44_515, 65, 0, 99.854, 1, 65, "online"],
  ["D", 20_585, 20_585, 0, 23_995, 100, 0, 0, "removed"],
  ["E", 27_660, 27_660, 0, 16_920, 100, 0, 0, "decommissioned"],
  ["F", 38_755, 38_755, 0, 5_825, 100, 0, 0, "online"],
];

/** April 2026 so far (to 2 Apr 00:00Z): C's 40 minutes; D and E are no longer in the fleet. */
const APRIL_SO_FAR: Expected[] = [
  ["A", 1440, 1440, 0, 0, 100, 0, 0, "online"],
  ["B", 1440, 1440, 0, 0, 100, 0, 0, "online"],
  ["C", 1440, 1400, 40, 0, 97.222, 1, 40, "online"],
  ["F", 1440, 1440, 0, 0, 100, 0, 0, "online"],
];

describe("availability over a scripted month", () => {
  let world: Awaited<ReturnType<typeof scriptedMonth>>;
  beforeAll(async () => {
    world = await scriptedMonth();
    return () => world.harness.close();
  });

  async function scriptedMonth() {
    const harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 5, seed: 3 },
      start: "2026-03-01T00:00:00Z",
    });
    const { sim, clock } = harness;
    const [a, b, c, d, e] = sim.fleet.list().map((device) => device.id);
    const ids: Record<string, string> = {
      A: a ?? "",
      B: b ?? "",
      C: c ?? "",
      D: d ?? "",
      E: e ?? "",
    };
    const at = (iso: string) => {
      const target = Date.parse(iso);
      if (target < clock.now()) throw new Error(`the script went back in time to ${iso}`);
      clock.advance(target - clock.now());
    };
    /** Devices report (sample) now, then the poll runs, which must complete its sweep. */
    const run = async (iso: string, reporting: string[], also: Record<string, string> = {}) => {
      at(iso);
      for (const name of reporting) {
        sim.fleet.update(ids[name] ?? "", {
          status: { sampledAt: clock.now(), isPluggedIn: false, isCharging: false },
        });
      }
      for (const [name, sampled] of Object.entries(also)) {
        sim.fleet.update(ids[name] ?? "", { status: { sampledAt: Date.parse(sampled) } });
      }
      const summary = await harness.poll();
      expect(summary.sweepComplete, iso).toBe(true);
    };

    await run("2026-03-01T00:00:00Z", ["A", "B", "C", "D", "E"]);
    at("2026-03-05T06:00:00Z");
    ids.F = sim.fleet.add().id;
    await run("2026-03-05T06:05:00Z", ["A", "B", "C", "D", "E", "F"]);
    await run("2026-03-10T23:40:00Z", ["A", "B", "C", "D", "E", "F"]);
    await run("2026-03-11T00:10:00Z", ["A", "C", "D", "E", "F"]);
    await run("2026-03-11T02:10:00Z", ["A", "C", "D", "E", "F"], { B: "2026-03-11T02:05:00Z" });
    at("2026-03-15T12:00:00Z");
    sim.fleet.remove(ids.D ?? "");
    await run("2026-03-15T12:05:00Z", ["A", "B", "C", "E", "F"]);
    // The executor's DELETE and its one write to the device item.
    at("2026-03-20T10:00:00Z");
    sim.fleet.remove(ids.E ?? "");
    await harness.devices.markDecommissioned(ids.E ?? "", "2026-03-20T10:00:00.000Z");
    await run("2026-03-20T10:05:00Z", ["A", "B", "C", "F"]);
    await run("2026-03-31T23:20:00Z", ["A", "B", "C", "F"]);
    await run("2026-04-01T00:10:00Z", ["A", "B", "F"]);
    await run("2026-04-01T00:45:00Z", ["A", "B", "F"], { C: "2026-04-01T00:40:00Z" });
    at("2026-04-02T00:00:00Z");
    return { harness, ids, api: apiOver(dynamo, harness.tableName, clock) };
  }

  it("matches the hand-computed table for March (UTC)", async () => {
    const report = body<{ rows: Row[]; window: unknown; nextCursor: unknown }>(
      await world.api.get("/fleet/availability", { month: "2026-03" }),
    );
    expect(report.window).toEqual({
      from: "2026-03-01T00:00:00.000Z",
      to: "2026-04-01T00:00:00.000Z",
    });
    expect(report.rows.map(({ cpid: _cpid, ...row }: Row & { cpid?: unknown }) => row)).toEqual(
      rowsOf(MARCH_UTC, world.ids),
    );
    expect(report.nextCursor).toBeNull();
  });

  it("matches the hand-computed table for March in New York (a month's boundaries in a time zone)", async () => {
    const report = body<{ rows: Row[]; window: unknown; timeZone: string }>(
      await world.api.get("/fleet/availability", { month: "2026-03", tz: "America/New_York" }),
    );
    expect(report.timeZone).toBe("America/New_York");
    expect(report.window).toEqual({
      from: "2026-03-01T05:00:00.000Z",
      to: "2026-04-01T04:00:00.000Z",
    });
    expect(report.rows.map(({ cpid: _cpid, ...row }: Row & { cpid?: unknown }) => row)).toEqual(
      rowsOf(MARCH_NEW_YORK, world.ids),
    );
  });

  it("counts April so far, the month under way", async () => {
    const report = body<{ rows: Row[]; window: unknown }>(
      await world.api.get("/fleet/availability", { month: "2026-04" }),
    );
    expect(report.window).toEqual({
      from: "2026-04-01T00:00:00.000Z",
      to: "2026-04-02T00:00:00.000Z",
    });
    expect(report.rows.map(({ cpid: _cpid, ...row }: Row & { cpid?: unknown }) => row)).toEqual(
      rowsOf(APRIL_SO_FAR, world.ids),
    );
  });

  it("pages with Link: next, and the pages together are the whole report; totals add up", async () => {
    const rows: Row[] = [];
    let query: Record<string, string> = { month: "2026-03", limit: "2" };
    let pages = 0;
    let online = 0;
    for (;;) {
      const result = await world.api.get("/fleet/availability", query);
      const page = body<{ rows: Row[]; nextCursor: string | null; pageTotals: Row }>(result);
      pages += 1;
      rows.push(...page.rows);
      online += page.pageTotals.onlineMinutes;
      const link = result.headers?.Link;
      if (page.nextCursor === null) {
        expect(link).toBeUndefined();
        break;
      }
      // The stage (here the local one) prefixes the path, as callers address it.
      expect(link).toBe(
        `</local/fleet/availability?month=2026-03&limit=2&cursor=${page.nextCursor}>; rel="next"`,
      );
      query = { month: "2026-03", limit: "2", cursor: page.nextCursor };
    }
    expect(pages).toBe(3);
    expect(rows.map(({ cpid: _cpid, ...row }: Row & { cpid?: unknown }) => row)).toEqual(
      rowsOf(MARCH_UTC, world.ids),
    );
    expect(online).toBe(44_640 + 44_510 + 44_615 + 20_885 + 27_960 + 38_515);
  });

  it("serves the same report as CSV when asked with Accept: text/csv", async () => {
    const result = await world.api.get("/fleet/availability", { month: "2026-03" }, [
      ["Accept", "text/csv"],
    ]);
    expect(result.statusCode).toBe(200);
    expect(result.headers?.["Content-Type"]).toBe("text/csv; charset=utf-8; header=present");
    const lines = result.body.split("\r\n");
    expect(lines[0]).toBe(
      "evseId,cpid,windowFrom,windowTo,inFleetMinutes,onlineMinutes,offlineMinutes,unknownMinutes,excludedMinutes,availabilityPercent,outages,longestOutageMinutes,stateAtEnd",
    );
    expect(lines).toHaveLength(1 + 6 + 1);
    const b = lines.find((line) => line.startsWith(world.ids.B ?? "-"));
    expect(b?.split(",").slice(2)).toEqual([
      "2026-03-01T00:00:00.000Z",
      "2026-04-01T00:00:00.000Z",
      "44640",
      "44510",
      "130",
      "0",
      "0",
      "99.709",
      "1",
      "130",
      "online",
    ]);
  });

  it("gives one device's availability over any window, and its history newest first", async () => {
    const b = world.ids.B ?? "";
    const availability = body(
      await world.api.get(`/evses/${b}/availability`, {
        from: "2026-03-10T00:00:00Z",
        to: "2026-03-12T00:00:00Z",
      }),
    );
    expect(availability).toMatchObject({
      evseId: b,
      window: { from: "2026-03-10T00:00:00.000Z", to: "2026-03-12T00:00:00.000Z" },
      inFleetMinutes: 2880,
      onlineMinutes: 2750,
      offlineMinutes: 130,
      availabilityPercent: 95.486,
      outages: 1,
      longestOutageMinutes: 130,
    });
    expect(String(availability.definition)).toMatch(/NEVI-style availability, not a compliance/);

    const history = body<{ items: Array<{ type: string; at: string; changes: unknown }> }>(
      await world.api.get(`/evses/${b}/history`),
    );
    expect(history.items.map(({ type, at }) => [type, at])).toEqual([
      ["EVSE Connectivity Changed", "2026-03-11T02:10:00.000Z"],
      ["EVSE Connectivity Changed", "2026-03-11T00:10:00.000Z"],
      ["EVSE Discovered", "2026-03-01T00:00:00.000Z"],
    ]);
    expect(history.items[1]?.changes).toEqual([
      { field: "connectivity", previous: "online", current: "offline" },
    ]);
    const e = body<{ items: Array<{ type: string; at: string; observedBy: string }> }>(
      await world.api.get(`/evses/${world.ids.E}/history`),
    );
    expect(e.items[0]).toMatchObject({
      type: "EVSE Decommissioned",
      at: "2026-03-20T10:00:00.000Z",
      observedBy: "executor",
    });
  });
});
