import { describe, expect, it } from "vitest";
import { readEvseItem } from "../../functions/adapters/ev-energy/schemas.js";
import { evseId } from "./helpers.js";

const id = evseId(1);
const statusLog = {
  url: `https://api.ev.energy/v2/evse/${id}/status_logs/2026-01-01T00:00:00Z/`,
  sampled_at: "2026-01-01T00:00:00Z",
  logged_at: "2026-01-01T00:00:05.123Z",
  is_plugged_in: true,
  is_charging: false,
  charge_rate_watts: 0,
  export_power_watts: null,
};
const item = {
  id,
  url: `https://api.ev.energy/v2/evses/${id}`,
  cpid: "SHIR100001",
  lock_mode: "SMART",
  latest_status_log: statusLog,
};

describe("readEvseItem", () => {
  it("reads a well-formed item with an expanded status log", () => {
    expect(readEvseItem(item)).toEqual({
      evse: {
        id,
        cpid: "SHIR100001",
        lockMode: "SMART",
        latestStatusLog: {
          sampledAt: "2026-01-01T00:00:00Z",
          loggedAt: "2026-01-01T00:00:05.123Z",
          isPluggedIn: true,
          isCharging: false,
          chargeRateWatts: 0,
          exportPowerWatts: null,
        },
        latestStatusLogUrl: statusLog.url,
      },
      problems: [],
    });
  });

  it("keeps a URL latest_status_log as a reference and the log itself unknown", () => {
    const reading = readEvseItem({ ...item, latest_status_log: statusLog.url });
    expect(reading?.evse.latestStatusLog).toBeUndefined();
    expect(reading?.evse.latestStatusLogUrl).toBe(statusLog.url);
    expect(reading?.problems).toEqual([]);
  });

  it("keeps null as null: the EVSE has never reported", () => {
    const reading = readEvseItem({ ...item, latest_status_log: null });
    expect(reading?.evse.latestStatusLog).toBeNull();
    expect(reading?.problems).toEqual([]);
  });

  it("makes missing, null or wrongly typed fields unknown and names each", () => {
    const reading = readEvseItem({
      id,
      lock_mode: 42,
      cpid: null,
      latest_status_log: { ...statusLog, is_charging: "yes", charge_rate_watts: undefined },
    });
    expect(reading?.evse).toMatchObject({ id, cpid: undefined, lockMode: undefined });
    expect(reading?.evse.latestStatusLog).toMatchObject({
      isCharging: undefined,
      isPluggedIn: true,
    });
    expect(reading?.problems).toEqual([
      { field: "cpid", problem: "invalid" },
      { field: "lock_mode", problem: "invalid" },
      { field: "latest_status_log.is_charging", problem: "invalid" },
      { field: "latest_status_log.charge_rate_watts", problem: "missing" },
    ]);
  });

  it("treats a status log without a parsable sampled_at as unknown", () => {
    for (const sampledAt of [undefined, null, "yesterday", "2026-13-45T00:00:00Z"]) {
      const reading = readEvseItem({
        ...item,
        latest_status_log: { ...statusLog, sampled_at: sampledAt },
      });
      expect(reading?.evse.latestStatusLog).toBeUndefined();
      expect(reading?.problems.map((p) => p.field)).toEqual(["latest_status_log.sampled_at"]);
    }
  });

  it("keeps an explicit null lock_mode and reports a missing one", () => {
    expect(readEvseItem({ ...item, lock_mode: null })?.evse.lockMode).toBeNull();
    const { lock_mode: _dropped, ...withoutLockMode } = item;
    expect(readEvseItem(withoutLockMode)?.problems).toEqual([
      { field: "lock_mode", problem: "missing" },
    ]);
  });

  it("rejects items without an id matching evse[A-Z\\d]{26}", () => {
    for (const bad of [
      { ...item, id: undefined },
      { ...item, id: 7 },
      { ...item, id: "evse01h" },
      { ...item, id: `${id}X` },
      { ...item, id: `vhcl${id.slice(4)}` },
      "a string",
      null,
      [item],
    ]) {
      expect(readEvseItem(bad)).toBeUndefined();
    }
  });
});
