import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prefersCsv, toCsv } from "../../functions/api/csv.js";
import {
  availabilityOver,
  monthsCovering,
  monthWindow,
  STATE_CODES,
  type StateCode,
  timelineOf,
} from "../../functions/core/availability.js";
import { recordsFor } from "../../functions/core/device-history.js";
import { detectChange, detectRemoval } from "../../functions/core/device-state.js";
import { formatDuration, parseDuration } from "../../functions/core/duration.js";
import { aDevice, evseId } from "../decommission/fixtures.js";

const MINUTE = 60_000;
const T0 = Date.parse("2026-03-01T00:00:00Z");
const at = (minutes: number) => T0 + minutes * MINUTE;

describe("availability over a timeline", () => {
  it("counts online, offline, unknown and excluded minutes, and each outage once", () => {
    const timeline = {
      initial: "n" as StateCode,
      transitions: [
        { at: at(10), code: "u" as StateCode },
        { at: at(20), code: "o" as StateCode },
        { at: at(50), code: "f" as StateCode },
        { at: at(60), code: "f" as StateCode }, // a repeat (a re-run's record) changes nothing
        { at: at(80), code: "o" as StateCode },
        { at: at(90), code: "f" as StateCode },
        { at: at(95), code: "r" as StateCode }, // removal ends an outage
      ],
    };
    expect(availabilityOver(timeline, { from: at(0), to: at(120) })).toEqual({
      inFleetMinutes: 85,
      onlineMinutes: 40,
      offlineMinutes: 35,
      unknownMinutes: 10,
      excludedMinutes: 35,
      availabilityPercent: 47.059,
      outages: 2,
      longestOutageMinutes: 30,
      stateAtEnd: "removed",
    });
    // An outage that began before the window counts, clipped; one after it does not.
    expect(availabilityOver(timeline, { from: at(70), to: at(85) })).toMatchObject({
      offlineMinutes: 10,
      onlineMinutes: 5,
      outages: 1,
      longestOutageMinutes: 10,
    });
  });

  it("makes transition times non-decreasing in detection order (a late sample dates one earlier)", () => {
    const { transitions } = timelineOf([
      {
        evseId: evseId(1),
        month: "2026-03",
        cpid: null,
        start: "o",
        transitions: [
          { at: at(30), code: "f" },
          { at: at(20), code: "o" }, // a sample older than the outage's start: no outage at all
        ],
      },
    ]);
    expect(transitions.map((t) => t.at)).toEqual([at(30), at(30)]);
    expect(
      availabilityOver({ initial: "o", transitions }, { from: at(0), to: at(60) }),
    ).toMatchObject({
      outages: 0,
      offlineMinutes: 0,
    });
  });

  it("for any timeline: the parts add up to the window, and the figures stay in range", () => {
    const transition = fc.record({
      at: fc.integer({ min: -200, max: 1_200 }).map(at),
      code: fc.constantFrom(...STATE_CODES),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...STATE_CODES),
        fc.array(transition, { maxLength: 30 }),
        fc.integer({ min: 0, max: 900 }),
        fc.integer({ min: 1, max: 900 }),
        (initial, transitions, start, length) => {
          const window = { from: at(start), to: at(start + length) };
          const { transitions: ordered } = timelineOf([
            { evseId: evseId(1), month: "2026-03", cpid: null, start: initial, transitions },
          ]);
          const result = availabilityOver({ initial, transitions: ordered }, window);
          const parts =
            result.onlineMinutes +
            result.offlineMinutes +
            result.unknownMinutes +
            result.excludedMinutes;
          expect(parts).toBeCloseTo(length, 1);
          expect(result.inFleetMinutes).toBeCloseTo(
            result.onlineMinutes + result.offlineMinutes + result.unknownMinutes,
            1,
          );
          expect(result.longestOutageMinutes).toBeLessThanOrEqual(result.offlineMinutes + 0.01);
          if (result.offlineMinutes > 0) expect(result.outages).toBeGreaterThan(0);
          if (result.availabilityPercent !== null) {
            expect(result.availabilityPercent).toBeGreaterThanOrEqual(0);
            expect(result.availabilityPercent).toBeLessThanOrEqual(100);
          } else {
            expect(result.inFleetMinutes).toBe(0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("months", () => {
  it("in UTC, and in a time zone across its daylight-saving change", () => {
    expect(monthWindow("2026-02")).toEqual({
      from: Date.parse("2026-02-01T00:00:00Z"),
      to: Date.parse("2026-03-01T00:00:00Z"),
    });
    expect(monthWindow("2026-03", "Europe/London")).toEqual({
      from: Date.parse("2026-03-01T00:00:00Z"),
      to: Date.parse("2026-03-31T23:00:00Z"),
    });
    expect(monthWindow("2026-12", "Asia/Kolkata")).toEqual({
      from: Date.parse("2026-11-30T18:30:00Z"),
      to: Date.parse("2026-12-31T18:30:00Z"),
    });
    expect(monthsCovering(monthWindow("2026-03", "America/New_York"))).toEqual([
      "2026-03",
      "2026-04",
    ]);
    expect(monthsCovering(monthWindow("2026-12", "Asia/Kolkata"))).toEqual(["2026-11", "2026-12"]);
  });
});

describe("ISO 8601 durations in days, hours and minutes", () => {
  it.for([
    ["P7D", 7 * 1440],
    ["PT12H", 720],
    ["PT90M", 90],
    ["P1DT2H30M", 1590],
    ["P0D", 0],
  ] as const)("%s is %i minutes", ([text, minutes]) => {
    expect(parseDuration(text)).toBe(minutes * MINUTE);
  });

  it.for(["", "P", "PT", "P1DT", "7D", "P1W", "P1Y", "PT1S", "P-1D", "P1.5D", "p7d", "P7DT"])(
    "%j is refused",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );

  it("formats what it parses", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), (minutes) => {
        expect(parseDuration(formatDuration(minutes * MINUTE))).toBe(minutes * MINUTE);
      }),
    );
  });
});

describe("records beside a device write", () => {
  const settings = { stalenessMs: 15 * MINUTE };
  const seen = (minutes: number) => new Date(at(minutes)).toISOString();

  it("dates an outage from the last sample plus the staleness threshold, a return from its sample", () => {
    const online = aDevice({
      sampledAt: seen(0),
      connectivity: "online",
      lastSeenAt: seen(0),
      version: 3,
    });
    const silent = detectChange(
      online,
      { id: online.evseId, latestStatusLog: { sampledAt: seen(0) } },
      at(40),
      { ...settings, chargeRateThresholdWatts: 500, heartbeatMs: 60 * MINUTE },
    );
    const records = recordsFor(online, silent, at(40), settings);
    expect(records?.history.map((entry) => entry.type)).toEqual(["EVSE Connectivity Changed"]);
    expect(records?.rollup?.transitions).toEqual([`${at(15) / 1000}f`]);

    const back = detectChange(
      silent.next,
      { id: online.evseId, latestStatusLog: { sampledAt: seen(55) } },
      at(60),
      { ...settings, chargeRateThresholdWatts: 500, heartbeatMs: 60 * MINUTE },
    );
    expect(recordsFor(silent.next, back, at(60), settings)?.rollup?.transitions).toEqual([
      `${at(55) / 1000}o`,
    ]);
  });

  it("writes no rollup for a status change within the month, one for the month's first write", () => {
    const device = aDevice({ lastSeenAt: seen(0), sampledAt: seen(0), version: 2 });
    const change = detectChange(
      device,
      { id: device.evseId, latestStatusLog: { sampledAt: seen(5), isCharging: true } },
      at(5),
      { ...settings, chargeRateThresholdWatts: 500, heartbeatMs: 60 * MINUTE },
    );
    expect(recordsFor(device, change, at(5), settings)).toMatchObject({ rollup: null });
    const lastMonth = { ...device, lastSeenAt: "2026-02-28T23:59:00.000Z" };
    expect(recordsFor(lastMonth, change, at(5), settings)?.rollup).toMatchObject({
      month: "2026-03",
      start: "o",
      transitions: [],
    });
    expect(recordsFor(device, detectRemoval(device, at(9)), at(9), settings)?.rollup).toMatchObject(
      { transitions: [`${at(9) / 1000}r`] },
    );
  });
});

describe("CSV", () => {
  it("quotes what must be quoted and defuses formulas", () => {
    expect(
      toCsv(
        ["a", "b"],
        [
          ["x,y", '=HYPERLINK("z")'],
          [null, 1.5],
        ],
      ),
    ).toBe('a,b\r\n"x,y","\'=HYPERLINK(""z"")"\r\n,1.5\r\n');
  });

  it.for([
    [undefined, false],
    ["text/csv", true],
    ["application/json", false],
    ["*/*", false],
    ["text/csv;q=0.5, application/json", false],
    ["application/json;q=0.2, text/csv", true],
    ["text/*", true],
    ["application/xml", "none"],
    ["text/csv;q=0", "none"],
  ] as const)("Accept %j prefers CSV: %j", ([accept, expected]) => {
    expect(prefersCsv(accept)).toBe(expected);
  });
});
