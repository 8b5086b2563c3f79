import { describe, expect, it } from "vitest";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { Fleet } from "../../local/simulator/fleet.js";
import type { SimChange, SimDevice } from "../../local/simulator/types.js";
import { CROCKFORD, UlidSequence } from "../../local/simulator/ulid.js";

const ID_PATTERN = /^evse[0-9A-HJKMNP-TV-Z]{26}$/;
const START = Date.parse("2026-01-01T00:00:00.000Z");

function fleetOf(size: number, options: { seed?: number; dynamic?: boolean } = {}) {
  const clock = new ManualClock(START);
  const fleet = new Fleet({
    size,
    seed: options.seed ?? 1,
    clock,
    dynamic: options.dynamic ?? false,
  });
  return { clock, fleet };
}

function isAscending(ids: readonly string[]): boolean {
  return ids.every((id, i) => i === 0 || (ids[i - 1] as string) < id);
}

/** The last journal entry per device, for checking the fleet's state matches its journal. */
function lastChangeByDevice(changes: readonly SimChange[]): Map<string, SimChange> {
  const last = new Map<string, SimChange>();
  for (const change of changes) last.set(change.evseId, change);
  return last;
}

describe("UlidSequence", () => {
  it("makes distinct Crockford ids in ascending order, also within one millisecond", () => {
    const ids = new UlidSequence(seededRandom(7));
    const made: string[] = [];
    for (let i = 0; i < 2000; i++) made.push(ids.next(START + Math.floor(i / 10)));
    expect(made.every((id) => ID_PATTERN.test(id))).toBe(true);
    expect(isAscending(made)).toBe(true);
    expect(new Set(made).size).toBe(made.length);
    expect(CROCKFORD).toBe("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
  });

  it("continues after an observed id even when asked for an earlier time", () => {
    const ids = new UlidSequence(seededRandom(7));
    const late = "evse7ZZZZZZZZZ0000000000000000";
    expect(ids.observe(late)).toBe(true);
    const next = ids.next(START);
    expect(next > late).toBe(true);
    expect(ID_PATTERN.test(next)).toBe(true);
    expect(ids.observe("evse~not-a-ulid")).toBe(false);
  });
});

describe("Fleet", () => {
  it("builds a seeded fleet deterministically, sorted by id, with plausible devices", () => {
    const a = fleetOf(2000).fleet.list();
    const b = fleetOf(2000).fleet.list();
    const other = fleetOf(2000, { seed: 2 }).fleet.list();
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(other));
    expect(a).toHaveLength(2000);
    expect(isAscending(a.map((d) => d.id))).toBe(true);
    expect(a.every((d) => ID_PATTERN.test(d.id))).toBe(true);
    expect(new Set(a.map((d) => d.cpid)).size).toBe(2000);
    const styles = [
      /^SHIR\d{6}$/,
      /^EO-[0-9A-F]{6}$/,
      /^WBX\d{7}$/,
      /^EH[0-9A-Z]{6}$/,
      /^ZAP\d{8}$/,
    ];
    for (const style of styles) expect(a.some((d) => style.test(d.cpid))).toBe(true);
    expect(a.every((d) => styles.some((style) => style.test(d.cpid)))).toBe(true);

    const lockModes = new Map<SimDevice["lockMode"], number>();
    for (const d of a) lockModes.set(d.lockMode, (lockModes.get(d.lockMode) ?? 0) + 1);
    expect(lockModes.get("UNLOCKED") ?? 0).toBeGreaterThan(1400);
    for (const mode of ["SMART", "LOCKED", null] as const) {
      expect(lockModes.get(mode) ?? 0).toBeGreaterThan(0);
    }

    const neverReported = a.filter((d) => d.status === null).length;
    expect(neverReported).toBeGreaterThan(20);
    expect(neverReported).toBeLessThan(100);
    const reported = a.flatMap((d) => (d.status === null ? [] : [d.status]));
    for (const status of reported) {
      if (status.isCharging === true) {
        expect(status.isPluggedIn).toBe(true);
        expect(status.chargeRateWatts).toBeGreaterThanOrEqual(1400);
        expect(status.chargeRateWatts).toBeLessThanOrEqual(22_000);
      } else {
        expect(status.chargeRateWatts).toBe(0);
      }
      expect(status.loggedAt).toBeGreaterThanOrEqual(status.sampledAt);
      expect(status.loggedAt).toBeLessThanOrEqual(START);
    }
    expect(reported.some((s) => s.exportPowerWatts !== null)).toBe(true);
    expect(reported.filter((s) => s.exportPowerWatts === null).length).toBeGreaterThan(1500);
    const recent = reported.filter((s) => START - s.sampledAt <= 5 * 60_000).length;
    const old = reported.filter((s) => START - s.sampledAt > 15 * 60_000).length;
    expect(recent).toBeGreaterThan(1700);
    expect(old).toBeGreaterThan(0);
  });

  it("builds 10,000 devices well under a second", () => {
    const started = performance.now();
    const { fleet } = fleetOf(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fleet.list()).toHaveLength(10_000);
  });

  it("serves pages by binary search, each device once, with invalid items in position", () => {
    const { fleet } = fleetOf(23);
    const ids = fleet.list().map((d) => d.id);
    fleet.addInvalidItem(ids[4] as string, { id: 42, note: "after-4" });
    fleet.addInvalidItem("", { note: "before-all" });
    fleet.addInvalidItem(ids[22] as string, { note: "after-last" });
    const served: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = fleet.pageAfter(cursor, 5);
      for (const entry of page.entries) {
        served.push(entry.kind === "device" ? entry.device.id : String(entry.item.note));
      }
      if (!page.hasAfter) break;
      cursor = page.lastId;
    }
    expect(served).toEqual([
      "before-all",
      ...ids.slice(0, 5),
      "after-4",
      ...ids.slice(5),
      "after-last",
    ]);
    const before = fleet.pageBefore(ids[10] as string, 3);
    expect(before.entries.map((e) => (e.kind === "device" ? e.device.id : ""))).toEqual(
      ids.slice(7, 10),
    );
    expect(before.hasBefore && before.hasAfter).toBe(true);
    // A cursor that is no longer in the fleet still finds its place.
    fleet.remove(ids[3] as string);
    expect(fleet.pageAfter(ids[3], 2).firstId).toBe(ids[4]);
  });

  it("adds after every id, updates and removes, journaling each change", () => {
    const { clock, fleet } = fleetOf(5);
    const last = fleet.list().at(-1)?.id as string;
    const added = fleet.add();
    expect(added.id > last).toBe(true);
    expect(fleet.list().at(-1)).toBe(added);
    const explicit = fleet.add({ id: "evse00000000000000000000000001", status: null });
    expect(fleet.list()[0]).toBe(explicit);
    expect(() => fleet.add({ id: explicit.id })).toThrow(/already exists/);

    clock.advance(1000);
    const target = added.id;
    fleet.update(target, {
      lockMode: added.lockMode === "LOCKED" ? "SMART" : "LOCKED",
      status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7400 },
    });
    expect(fleet.get(target)?.status?.sampledAt).toBe(clock.now());
    fleet.update(target, { status: { chargeRateWatts: 11_000, sampledAt: START - 5000 } });
    expect(fleet.get(target)?.status?.sampledAt).toBe(START - 5000);
    fleet.update(target, { status: { isPluggedIn: false, isCharging: false, chargeRateWatts: 0 } });
    expect(fleet.remove(target)).toBe(true);
    expect(fleet.remove(target)).toBe(false);
    expect(fleet.get(target)).toBeUndefined();

    const kinds = fleet
      .changes()
      .filter((c) => c.evseId === target)
      .map((c) => c.kind);
    const pluggedBefore = added.status?.isPluggedIn === true;
    expect(kinds[0]).toBe("appeared");
    expect(kinds).toContain("lock-mode");
    expect(kinds).toContain("charge-rate");
    expect(kinds).toContain("charging-stopped");
    expect(kinds).toContain("unplugged");
    if (!pluggedBefore) expect(kinds).toContain("plugged-in");
    expect(kinds.at(-1)).toBe("disappeared");
  });

  it("churns about the given fraction of devices, deterministically", () => {
    const run = () => {
      const { clock, fleet } = fleetOf(1000);
      clock.advance(60_000);
      const before = JSON.stringify(fleet.list());
      const changes = fleet.churn(0.1);
      return { fleet, changes, before, now: clock.now() };
    };
    const { fleet, changes, before, now } = run();
    const devices = new Set(changes.map((c) => c.evseId));
    expect(devices.size).toBe(100);
    expect(changes.every((c) => c.at === now)).toBe(true);
    expect(fleet.changes()).toEqual(changes);
    expect(JSON.stringify(fleet.list())).not.toBe(before);
    expect(run().changes).toEqual(changes);
    for (const [id, change] of lastChangeByDevice(changes)) {
      const status = fleet.get(id)?.status;
      if (change.kind === "charging-started") expect(status?.isCharging).toBe(true);
      if (change.kind === "unplugged") expect(status?.isPluggedIn).toBe(false);
      if (change.kind !== "lock-mode") expect(status?.sampledAt).toBeGreaterThan(now - 10_000);
    }
  });

  it("evolves a dynamic fleet over simulated time, journaling what it changes", () => {
    const { clock, fleet } = fleetOf(3000, { dynamic: true });
    const start = new Map(
      fleet.list().map((d) => [d.id, { ...d, status: d.status && { ...d.status } }]),
    );
    clock.advance(2 * 3_600_000);
    const changes = fleet.changes();
    expect(changes.length).toBeGreaterThan(500);
    expect(changes.every((c, i) => i === 0 || (changes[i - 1] as SimChange).at <= c.at)).toBe(true);
    expect(changes.every((c) => c.at > START && c.at <= clock.now())).toBe(true);
    const kinds = new Set(changes.map((c) => c.kind));
    for (const kind of [
      "plugged-in",
      "unplugged",
      "charging-started",
      "charging-stopped",
      "charge-rate",
      "lock-mode",
      "fell-silent",
      "came-back",
    ] as const) {
      expect(kinds).toContain(kind);
    }

    const last = lastChangeByDevice(changes);
    const lockChanges = new Map<string, number>();
    for (const c of changes) {
      if (c.kind === "lock-mode") lockChanges.set(c.evseId, (lockChanges.get(c.evseId) ?? 0) + 1);
    }
    for (const [id, count] of lockChanges) {
      if (count === 1 && fleet.get(id) !== undefined) {
        expect(fleet.get(id)?.lockMode).not.toBe(start.get(id)?.lockMode);
      }
    }
    for (const [id, change] of last) {
      const device = fleet.get(id);
      if (change.kind === "disappeared") expect(device).toBeUndefined();
      else expect(device).toBeDefined();
      if (change.kind === "charging-started") expect(device?.status?.isCharging).toBe(true);
      if (change.kind === "plugged-in") expect(device?.status?.isPluggedIn).toBe(true);
      if (change.kind === "unplugged") expect(device?.status?.isPluggedIn).toBe(false);
      if (change.kind === "fell-silent") {
        expect(clock.now() - (device?.status?.sampledAt ?? 0)).toBeGreaterThan(0);
        expect(device?.status?.sampledAt).toBeLessThanOrEqual(change.at);
      }
    }

    // Devices nothing happened to keep reporting: their samples follow the clock.
    const quiet = fleet
      .list()
      .filter((d) => !last.has(d.id) && d.status !== null)
      .filter((d) => (start.get(d.id)?.status?.sampledAt ?? 0) > START - 5 * 60_000);
    expect(quiet.length).toBeGreaterThan(100);
    for (const device of quiet) {
      const age = clock.now() - (device.status?.sampledAt ?? 0);
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(70_000);
    }
    // Initially silent devices that never came back keep their old sample.
    const silent = [...start.values()].filter(
      (d) => d.status !== null && d.status.sampledAt < START - 15 * 60_000 && !last.has(d.id),
    );
    expect(silent.length).toBeGreaterThan(0);
    for (const device of silent) {
      expect(fleet.get(device.id)?.status?.sampledAt).toBe(device.status?.sampledAt);
    }
  });

  it("evolves the same way however simulated time is chunked", () => {
    const a = fleetOf(2000, { dynamic: true });
    const b = fleetOf(2000, { dynamic: true });
    a.clock.advance(3_600_000);
    a.fleet.list();
    for (let i = 0; i < 120; i++) {
      b.clock.advance(30_000);
      b.fleet.changes();
    }
    expect(b.fleet.changes()).toEqual(a.fleet.changes());
    expect(JSON.stringify(b.fleet.list())).toBe(JSON.stringify(a.fleet.list()));
  });

  it("goes on from a saved snapshot exactly as if it had never stopped", () => {
    const a = fleetOf(300, { dynamic: true });
    a.clock.advance(24 * 3_600_000);
    a.fleet.add({});
    a.fleet.remove(a.fleet.list()[10]?.id ?? "");
    const saved = JSON.parse(JSON.stringify(a.fleet.snapshot()));
    const clock = new ManualClock(a.clock.now());
    const b = new Fleet({ size: 300, seed: 1, clock, dynamic: true, restore: saved });
    expect(JSON.stringify(b.list())).toBe(JSON.stringify(a.fleet.list()));
    a.clock.advance(2 * 24 * 3_600_000);
    clock.advance(2 * 24 * 3_600_000);
    expect(b.changes().length).toBeGreaterThan(0);
    expect(JSON.stringify(b.list())).toBe(JSON.stringify(a.fleet.list()));
    expect(b.add({}).id).toBe(a.fleet.add({}).id);
    expect(() => new Fleet({ size: 200, seed: 1, clock, dynamic: true, restore: saved })).toThrow(
      /saved fleet \(seed 1, 300 EVSEs\) is not this one \(seed 1, 200 EVSEs\)/,
    );
  });

  it("never dates a change before a sample already served", () => {
    const { clock, fleet } = fleetOf(2000, { dynamic: true });
    const seen = new Map<string, number>();
    for (let step = 0; step < 90; step++) {
      clock.advance(40_000);
      for (const device of fleet.pageAfter(undefined, 100).entries) {
        if (device.kind !== "device" || device.device.status === null) continue;
        const sampledAt = device.device.status.sampledAt;
        expect(sampledAt).toBeGreaterThanOrEqual(seen.get(device.device.id) ?? 0);
        seen.set(device.device.id, sampledAt);
      }
    }
  });

  it("keeps evolution and paging cheap for 100,000 devices", () => {
    const { clock, fleet } = fleetOf(100_000, { dynamic: true });
    const started = performance.now();
    let cursor: string | undefined;
    let served = 0;
    for (;;) {
      const page = fleet.pageAfter(cursor, 100);
      served += page.entries.length;
      if (!page.hasAfter) break;
      cursor = page.lastId;
      clock.advance(100);
    }
    clock.advance(10 * 60_000);
    fleet.changes();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(served).toBeGreaterThanOrEqual(99_990);
    expect(fleet.changes().length).toBeGreaterThan(1000);
  });
});
