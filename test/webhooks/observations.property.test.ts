/**
 * The poll and the webhook path share change detection: whichever observes first, and in
 * whatever order observations arrive, a device never moves backwards and one change gets one id.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DeviceState, detectChange } from "../../functions/core/device-state.js";
import type { Evse } from "../../functions/core/evse.js";

const settings = {
  stalenessMs: 15 * 60_000,
  chargeRateThresholdWatts: 500,
  heartbeatMs: 3_600_000,
};
const T0 = Date.parse("2026-03-02T08:00:00Z");
const ID = "evse01HSH04KDEWF6Z4DB2J77J74K5";

const observation = fc.record({
  offsetMs: fc.integer({ min: 0, max: 3_600_000 }),
  isPluggedIn: fc.boolean(),
  isCharging: fc.boolean(),
  chargeRateWatts: fc.integer({ min: 0, max: 22_000 }),
  by: fc.constantFrom("poll" as const, "webhook" as const),
});

function listed(o: {
  offsetMs: number;
  isPluggedIn: boolean;
  isCharging: boolean;
  chargeRateWatts: number;
}): Evse {
  return {
    id: ID,
    cpid: "SHIR100001",
    lockMode: "SMART",
    latestStatusLog: {
      sampledAt: new Date(T0 + o.offsetMs).toISOString(),
      isPluggedIn: o.isPluggedIn,
      isCharging: o.isCharging,
      chargeRateWatts: o.chargeRateWatts,
      exportPowerWatts: null,
    },
  };
}

describe("observations from both paths", () => {
  it("never move a device backwards, whatever order they arrive in", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(observation, { minLength: 1, maxLength: 30, selector: (o) => o.offsetMs }),
        (observations) => {
          let stored: DeviceState | undefined;
          let now = T0 + 3_600_000;
          for (const o of observations) {
            now += 1000;
            const detection = detectChange(stored, listed(o), now, settings, o.by);
            const before = stored?.sampledAt;
            if (detection.write !== "none") stored = detection.next;
            if (before && stored?.sampledAt) {
              expect(Date.parse(stored.sampledAt)).toBeGreaterThanOrEqual(Date.parse(before));
            }
            for (const event of detection.events) expect(event.observedBy).toBe(o.by);
          }
          // The newest sample's status stands (its time is stored only when it changed something,
          // or with a heartbeat: a newer sample alone is not a change).
          const newest = observations.reduce((a, b) => (b.offsetMs > a.offsetMs ? b : a));
          expect(stored?.isPluggedIn).toBe(newest.isPluggedIn);
          expect(stored?.isCharging).toBe(newest.isCharging);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("gives the same change the same id whichever path observes it, and whenever", () => {
    // Samples minutes old and lags under a minute: no connectivity change comes between the two
    // observations (that would be another change, with its own id).
    const fresh = observation.map((o) => ({ ...o, offsetMs: 3_000_000 + (o.offsetMs % 600_000) }));
    fc.assert(
      fc.property(fresh, fresh, fc.integer({ min: 0, max: 60_000 }), (a, b, lag) => {
        const stored = detectChange(undefined, listed(a), T0 + 3_600_000, settings).next;
        const next = { ...b, offsetMs: Math.max(a.offsetMs, b.offsetMs) };
        const byPoll = detectChange(stored, listed(next), T0 + 3_601_000, settings, "poll");
        const byWebhook = detectChange(
          stored,
          listed(next),
          T0 + 3_601_000 + lag,
          settings,
          "webhook",
        );
        expect(byWebhook.events.map((e) => e.eventId)).toEqual(byPoll.events.map((e) => e.eventId));
        expect(byWebhook.events.every((e) => e.observedBy === "webhook")).toBe(true);
        expect(byPoll.events.every((e) => e.observedBy === "poll")).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
