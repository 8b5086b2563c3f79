/**
 * The poll and the webhook path share change detection: whichever observes first, and in
 * whatever order observations arrive, a device never moves backwards and one change gets one id.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Detection,
  type DeviceState,
  detectChange,
} from "../../functions/core/device-state.js";
import type { Evse } from "../../functions/core/evse.js";
import { detectForWebhook } from "../../functions/core/webhooks/detect.js";

const settings = {
  stalenessMs: 15 * 60_000,
  chargeRateThresholdWatts: 500,
  heartbeatMs: 120_000,
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
  it("never move a device backwards, however the poll's and the webhooks' reads and writes interleave", async () => {
    const command = fc.oneof(
      fc.record({
        kind: fc.constant("sample" as const),
        advanceMs: fc.integer({ min: 1, max: 90_000 }),
        // Few distinct statuses, so that samples often change nothing (heartbeats, no writes).
        status: fc.record({
          isPluggedIn: fc.constant(true),
          isCharging: fc.boolean(),
          chargeRateWatts: fc.constantFrom(0, 7_000),
        }),
      }),
      fc.record({
        kind: fc.constant("step" as const),
        actor: fc.integer({ min: 0, max: 3 }),
        storedFirst: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 80 }), async (commands) => {
        const world = new World();
        for (const c of commands) {
          if (c.kind === "sample") world.sample(c.advanceMs, c.status);
          else await world.step(c.actor, c.storedFirst);
        }
        // Whatever was left half done finishes, then one more sweep: the poll is the truth.
        for (let actor = 0; actor < 4; actor += 1)
          while (world.busy(actor)) await world.step(actor, false);
        await world.sweep();
        const stored = world.store.state;
        expect(stored?.isCharging).toBe(world.latest.isCharging);
        expect(stored?.isPluggedIn).toBe(world.latest.isPluggedIn);
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps a newer sample the poll's heartbeat stored from a webhook refresh read before it", async () => {
    const world = new World();
    for (let i = 0; i < 3; i += 1) await world.step(0, false); // the poll discovers it, idle
    world.sample(60_000, { isPluggedIn: true, isCharging: true, chargeRateWatts: 7_000 });
    await world.step(1, false); // a worker refreshes: charging…
    await world.step(1, false); // …and reads the stored device (idle, version 1)
    world.sample(60_000, { isPluggedIn: true, isCharging: false, chargeRateWatts: 0 });
    for (let i = 0; i < 3; i += 1) await world.step(0, false); // the poll: idle again, heartbeat
    const afterHeartbeat = world.store.state;
    expect(afterHeartbeat).toMatchObject({ version: 1, isCharging: false });
    await world.step(1, false); // the worker's write conflicts, it reads again: its sample is older
    expect(world.store.state).toEqual(afterHeartbeat);
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

/** One device item with DynamoDB's conditional put, checking the invariant on every write. */
class DeviceItem {
  state: DeviceState | undefined;
  put(next: DeviceState, expectedVersion: number | undefined, expectedLastSeenAt?: string) {
    const current = this.state;
    if (
      expectedVersion === undefined ? current !== undefined : current?.version !== expectedVersion
    ) {
      return "conflict" as const;
    }
    if (expectedLastSeenAt !== undefined && current?.lastSeenAt !== expectedLastSeenAt) {
      return "conflict" as const;
    }
    if (current?.sampledAt && next.sampledAt) {
      // The promise under test: the stored sample never goes back in time.
      expect(Date.parse(next.sampledAt)).toBeGreaterThanOrEqual(Date.parse(current.sampledAt));
    }
    this.state = next;
    return "written" as const;
  }
}

type Sample = {
  offsetMs: number;
  isPluggedIn: boolean;
  isCharging: boolean;
  chargeRateWatts: number;
};

/**
 * ev.energy's latest sample of one charger, the device item, the poll (actor 0, alone under its
 * lease) and three webhook workers. Each actor reads the sample and the stored state, in either
 * order, then writes what it detected: the steps of each actor interleave at random.
 */
class World {
  readonly store = new DeviceItem();
  now = T0;
  latest: Sample = { offsetMs: 0, isPluggedIn: true, isCharging: false, chargeRateWatts: 0 };
  private readonly actors: Array<{ observed?: Evse; previous?: DeviceState | "unread" }> = [
    {},
    {},
    {},
    {},
  ];

  sample(advanceMs: number, status: Omit<Sample, "offsetMs">) {
    this.now += advanceMs;
    this.latest = { ...status, offsetMs: this.now - T0 };
  }

  busy(actor: number) {
    return this.actors[actor]?.observed !== undefined || this.actors[actor]?.previous !== undefined;
  }

  async step(actor: number, storedFirst: boolean) {
    const a = this.actors[actor] as { observed?: Evse; previous?: DeviceState | "unread" };
    // The webhook path refreshes first and reads the device after; the poll does both at once.
    const readStoredNext = actor === 0 ? storedFirst : false;
    if (a.previous === undefined && (readStoredNext || a.observed !== undefined)) {
      a.previous = this.store.state ?? "unread";
      return;
    }
    if (a.observed === undefined) {
      a.observed = listed(this.latest);
      return;
    }
    this.now += 1000;
    this.write(actor, a.previous === "unread" ? undefined : a.previous, a.observed);
    delete a.observed;
    delete a.previous;
  }

  async sweep() {
    this.now += 1000;
    this.write(0, this.store.state, listed(this.latest));
  }

  /**
   * Detect and write as each path does: a lost race reads again and detects again. A webhook's
   * observation, once written, holds: the stored sample is at least as new as the one it saw,
   * so no older observation can undo it later (stored samples never go back).
   */
  private write(actor: number, read: DeviceState | undefined, observed: Evse) {
    this.attemptWrite(actor, read, observed);
    const seen = observed.latestStatusLog?.sampledAt;
    const stored = this.store.state?.sampledAt;
    if (actor !== 0 && seen && stored) {
      expect(Date.parse(stored)).toBeGreaterThanOrEqual(Date.parse(seen));
    }
  }

  private attemptWrite(actor: number, read: DeviceState | undefined, observed: Evse) {
    let previous = read;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const detection: Detection =
        actor === 0
          ? detectChange(previous, observed, this.now, settings, "poll")
          : detectForWebhook(previous, observed, this.now, settings);
      if (detection.write === "none") return;
      const outcome =
        actor === 0
          ? this.store.put(detection.next, previous?.version)
          : this.store.put(detection.next, previous?.version, previous?.lastSeenAt);
      if (outcome === "written") return;
      previous = this.store.state;
    }
  }
}
