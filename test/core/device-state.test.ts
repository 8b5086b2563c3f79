import { describe, expect, it } from "vitest";
import {
  connectivityAt,
  type DeviceState,
  detectChange,
  detectRemoval,
} from "../../functions/core/device-state.js";
import type { Evse, StatusLog } from "../../functions/core/evse.js";

const settings = {
  stalenessMs: 15 * 60_000,
  chargeRateThresholdWatts: 500,
  heartbeatMs: 3_600_000,
};
const T0 = Date.parse("2026-01-01T12:00:00Z");
const iso = (t: number) => new Date(t).toISOString();
const ID = "evse01HSH04KDEWF6Z4DB2J77J74K5";

function listed(status: Partial<StatusLog> | null, extra: Partial<Evse> = {}): Evse {
  return {
    id: ID,
    cpid: "SHIR100001",
    lockMode: "UNLOCKED",
    latestStatusLog:
      status === null
        ? null
        : {
            sampledAt: iso(T0),
            isPluggedIn: false,
            isCharging: false,
            chargeRateWatts: 0,
            exportPowerWatts: null,
            ...status,
          },
    ...extra,
  };
}

function discovered(evse: Evse, at = T0): DeviceState {
  return detectChange(undefined, evse, at, settings).next;
}

describe("detectChange", () => {
  it("discovers a new device with one event and derives its connectivity", () => {
    const result = detectChange(undefined, listed({}), T0 + 60_000, settings);
    expect(result.write).toBe("change");
    expect(result.events.map((e) => e.type)).toEqual(["EVSE Discovered"]);
    expect(result.next).toMatchObject({ connectivity: "online", version: 1, cpid: "SHIR100001" });
    const silent = detectChange(undefined, listed(null), T0, settings);
    expect(silent.next.connectivity).toBe("unknown");
  });

  it("writes and emits nothing for an unchanged device until the heartbeat is due", () => {
    const stored = discovered(listed({}));
    const later = listed({ sampledAt: iso(T0 + 60_000) });
    expect(detectChange(stored, later, T0 + 120_000, settings)).toMatchObject({
      write: "none",
      events: [],
    });
    const fresh = listed({ sampledAt: iso(T0 + 3_590_000) });
    const due = detectChange(stored, fresh, T0 + 3_600_000, settings);
    expect(due.write).toBe("heartbeat");
    expect(due.events).toEqual([]);
    expect(due.next.version).toBe(stored.version);
    expect(due.next.lastSeenAt).toBe(iso(T0 + 3_600_000));
  });

  it("reports changed status fields with previous and current values, bumping the version once", () => {
    const stored = discovered(listed({}));
    const now = T0 + 60_000;
    const result = detectChange(
      stored,
      listed({ sampledAt: iso(now), isPluggedIn: true, isCharging: true, chargeRateWatts: 7000 }),
      now,
      settings,
    );
    expect(result.events.map((e) => e.type)).toEqual(["EVSE Status Changed"]);
    expect(result.events[0]?.changedFields).toEqual([
      { field: "isPluggedIn", previous: false, current: true },
      { field: "isCharging", previous: false, current: true },
      { field: "chargeRateWatts", previous: 0, current: 7000 },
    ]);
    expect(result.next.version).toBe(stored.version + 1);
  });

  it("ignores a charge-rate move under the threshold but not one at it", () => {
    const stored = discovered(
      listed({ isPluggedIn: true, isCharging: true, chargeRateWatts: 7000 }),
    );
    const small = detectChange(
      stored,
      listed({ isPluggedIn: true, isCharging: true, chargeRateWatts: 7499 }),
      T0,
      settings,
    );
    expect(small.write).toBe("none");
    const big = detectChange(
      stored,
      listed({ isPluggedIn: true, isCharging: true, chargeRateWatts: 7500 }),
      T0,
      settings,
    );
    expect(big.events[0]?.changedFields).toEqual([
      { field: "chargeRateWatts", previous: 7000, current: 7500 },
    ]);
  });

  it("never applies a sample older than the stored one", () => {
    const stored = discovered(listed({ sampledAt: iso(T0), isPluggedIn: true }));
    const older = listed({ sampledAt: iso(T0 - 60_000), isPluggedIn: false });
    const result = detectChange(stored, older, T0 + 60_000, settings);
    expect(result.events).toEqual([]);
    expect(result.next.isPluggedIn).toBe(true);
    expect(result.next.sampledAt).toBe(iso(T0));
  });

  it("keeps stored values for fields the reader could not parse", () => {
    const stored = discovered(listed({ isPluggedIn: true }));
    const unknowns = listed({ isPluggedIn: undefined }, { cpid: undefined, lockMode: undefined });
    expect(detectChange(stored, unknowns, T0, settings).write).toBe("none");
  });

  it("goes offline when the device falls silent past the threshold, and online when it reports", () => {
    const stored = discovered(listed({}));
    const silent = detectChange(stored, listed({}), T0 + 16 * 60_000, settings);
    expect(silent.events.map((e) => e.type)).toEqual(["EVSE Connectivity Changed"]);
    expect(silent.next.connectivity).toBe("offline");
    const back = detectChange(
      silent.next,
      listed({ sampledAt: iso(T0 + 20 * 60_000) }),
      T0 + 20 * 60_000,
      settings,
    );
    expect(back.events.map((e) => e.type)).toEqual(["EVSE Connectivity Changed"]);
    expect(back.next.connectivity).toBe("online");
  });

  it("derives the same event id for the same change and a different one for different content", () => {
    const stored = discovered(listed({}));
    const charging = listed({ isPluggedIn: true });
    const first = detectChange(stored, charging, T0, settings).events[0]?.eventId;
    const again = detectChange(stored, charging, T0 + 1000, settings).events[0]?.eventId;
    const other = detectChange(stored, listed({ chargeRateWatts: 3000 }), T0, settings).events[0]
      ?.eventId;
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it("keeps the id of a change when only the sample time moved before it was re-derived", () => {
    const stored = discovered(listed({}));
    const first = detectChange(stored, listed({ isPluggedIn: true }), T0, settings);
    const later = listed({ isPluggedIn: true, sampledAt: iso(T0 + 120_000) });
    const again = detectChange(stored, later, T0 + 180_000, settings);
    expect(again.events[0]?.eventId).toBe(first.events[0]?.eventId);
  });

  it("rediscovers a device that was removed", () => {
    const removed = detectRemoval(discovered(listed({})), T0).next;
    expect(removed.lifecycle).toBe("removed");
    const back = detectChange(removed, listed({}), T0 + 1000, settings);
    expect(back.events.map((e) => e.type)).toEqual(["EVSE Discovered"]);
    expect(back.next).toMatchObject({ lifecycle: "active", version: removed.version + 1 });
    expect(back.next.firstSeenAt).toBe(removed.firstSeenAt);
  });
});

describe("connectivityAt", () => {
  it("is online up to the threshold, offline past it, unknown without a sample", () => {
    expect(connectivityAt(iso(T0), T0 + 15 * 60_000, settings.stalenessMs)).toBe("online");
    expect(connectivityAt(iso(T0), T0 + 15 * 60_000 + 1, settings.stalenessMs)).toBe("offline");
    expect(connectivityAt(null, T0, settings.stalenessMs)).toBe("unknown");
  });
});
