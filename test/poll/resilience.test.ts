import { afterEach, describe, expect, it } from "vitest";
import type { ChangeEvent } from "../../functions/core/device-state.js";
import type {
  DeviceStore,
  EventPublisher,
  FleetHealthStore,
  SweepStore,
} from "../../functions/ports.js";
import { seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { useDynalite } from "../support/dynamo.js";
import { silentLogger, startPollHarness, storeWith } from "../support/poll-harness.js";

const dynamo = useDynalite();
let harness: Awaited<ReturnType<typeof startPollHarness>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;
const TIME_LIMIT = 240_000;
/** The lease outlives a run by its time limit plus a minute (see poll-runtime.ts). */
const LEASE = TIME_LIMIT + MINUTE;
const never = <T>() => new Promise<T>(() => undefined);

type KillOp = "read" | "publish" | "checkpoint" | "put" | "record";

/**
 * Wraps the device store, the sweep store and the publisher so that, at a chosen operation of a
 * chosen page, the run "dies": that operation and every later one never completes, like a killed
 * Lambda. Nothing after it runs (no further checkpoint, no ledger, no lease release). A
 * checkpoint write the run dies in may have landed or not (`landed`). A page's writes (devices,
 * with their history and rollup records) may still run while the next page is fetched: a
 * write kill point counts the writes from its page's read on.
 */
function killAt(point: { page: number; op: KillOp; nth: number; landed: boolean }) {
  let page = -1;
  let count = 0;
  let dead = false;
  let die: () => void = () => undefined;
  const died = new Promise<void>((resolve) => {
    die = resolve;
  });
  const step = (op: KillOp) => {
    if (dead) return true;
    // The poll reads each page's stored range once, as it starts fetching the page.
    if (op === "read") {
      page += 1;
      count = 0;
    }
    const writing = op === "put" || op === "record";
    if (op === point.op && (page === point.page || (writing && page > point.page))) {
      count += 1;
      if (count > point.nth) {
        dead = true;
        die();
      }
    }
    return dead;
  };
  return {
    /** Resolves when the run dies. */
    died,
    devices: (store: DeviceStore): DeviceStore => ({
      readAfter: (afterId, limit) => (step("read") ? never() : store.readAfter(afterId, limit)),
      readRange: (range) => (dead ? never() : store.readRange(range)),
      get: (id) => (dead ? never() : store.get(id)),
      put: (state, expected) => (step("put") ? never() : store.put(state, expected)),
    }),
    sweeps: (store: SweepStore): SweepStore => ({
      acquire: (owner, now, leaseMs) => (dead ? never() : store.acquire(owner, now, leaseMs)),
      commit: (owner, now, checkpoint, limit) => {
        if (!step("checkpoint")) return store.commit(owner, now, checkpoint, limit);
        return point.landed
          ? store.commit(owner, now, checkpoint, limit).then(() => never<boolean>())
          : never();
      },
      completeSweep: (owner, now, next) => (dead ? never() : store.completeSweep(owner, now, next)),
      release: (owner) => (dead ? never() : store.release(owner)),
    }),
    health: (store: FleetHealthStore): FleetHealthStore => ({
      record: (state, records) => (step("record") ? never() : store.record(state, records)),
      putSnapshot: (snapshot) => (dead ? never() : store.putSnapshot(snapshot)),
    }),
    isDead: () => dead,
    publisher: (inner: EventPublisher): EventPublisher => ({
      publish: (events) => (step("publish") ? never() : inner.publish(events)),
    }),
  };
}

function idsByDevice(events: ChangeEvent[], type: ChangeEvent["type"]) {
  const byDevice = new Map<string, Set<string>>();
  for (const event of events.filter((e) => e.type === type)) {
    byDevice.set(event.evseId, (byDevice.get(event.evseId) ?? new Set()).add(event.eventId));
  }
  return byDevice;
}

async function expectStoreMatchesFleet(h: NonNullable<typeof harness>) {
  const stored = new Map((await h.devices.readRange({})).map((d) => [d.evseId, d]));
  const fleet = h.sim.fleet.list();
  for (const device of fleet) {
    const state = stored.get(device.id);
    expect(state?.lifecycle, device.id).toBe("active");
    expect(state?.lockMode).toBe(device.lockMode);
    expect(state?.isPluggedIn).toBe(device.status?.isPluggedIn ?? null);
    expect(state?.isCharging).toBe(device.status?.isCharging ?? null);
  }
  const active = [...stored.values()].filter((d) => d.lifecycle === "active");
  expect(active.length).toBe(fleet.length);
}

describe("a poll killed at a random page", () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
  it.for(seeds)("seed %i: later runs finish the sweep, nothing lost or doubled", async (seed) => {
    const random = seededRandom(seed);
    const pages = 11;
    // Four seeds for each kind of operation; where in the sweep is the seed's draw.
    const ops = ["read", "publish", "checkpoint", "put", "record"] as const;
    const op = ops[seed % ops.length] ?? "put";
    // Each page has one range read, one publish and one checkpoint, and some ten writes to die
    // in the middle of.
    const point = {
      page: Math.floor(random() * pages),
      op,
      nth: op === "put" || op === "record" ? Math.floor(random() * 3) : 0,
      landed: random() < 0.5,
    };
    const killer = killAt(point);
    const recorder = new RecordingPublisher();
    let armed = false;
    // The poller of the killed run stays dead, whatever it still had under way; pollers built
    // after it (cold starts) work normally.
    const killable = () => {
      const bornAfterDeath = killer.isDead();
      return () => !bornAfterDeath && (armed || killer.isDead());
    };
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 1_050, seed },
      wrapDevices: (store) => {
        const killing = killer.devices(store);
        const kills = killable();
        return {
          readAfter: (a, l) => (kills() ? killing.readAfter(a, l) : store.readAfter(a, l)),
          readRange: (range) => (kills() ? killing.readRange(range) : store.readRange(range)),
          get: (id) => (kills() ? killing.get(id) : store.get(id)),
          put: (s, v) => (kills() ? killing.put(s, v) : store.put(s, v)),
        };
      },
      wrapSweeps: (store) => {
        const killing = killer.sweeps(store);
        const kills = killable();
        return {
          acquire: (o, n, l) => (kills() ? killing.acquire(o, n, l) : store.acquire(o, n, l)),
          commit: (o, n, c, l) => (kills() ? killing.commit(o, n, c, l) : store.commit(o, n, c, l)),
          completeSweep: (o, n, c) =>
            kills() ? killing.completeSweep(o, n, c) : store.completeSweep(o, n, c),
          release: (o) => (kills() ? killing.release(o) : store.release(o)),
        };
      },
      wrapHealth: (store) => {
        const killing = killer.health(store);
        const kills = killable();
        return {
          record: (state, records) =>
            kills() ? killing.record(state, records) : store.record(state, records),
          putSnapshot: (snapshot) =>
            kills() ? killing.putSnapshot(snapshot) : store.putSnapshot(snapshot),
        };
      },
      publisher: {
        publish: (events) =>
          armed ? killer.publisher(recorder).publish(events) : recorder.publish(events),
      },
    });
    expect((await harness.poll(TIME_LIMIT)).sweepComplete).toBe(true);

    harness.clock.advance(MINUTE);
    const churned = new Set(harness.sim.fleet.churn(0.1).map((change) => change.evseId));
    const gone = harness.sim.fleet.list()[Math.floor(random() * 1_000)]?.id ?? "";
    harness.sim.fleet.remove(gone);
    const eventsBefore = recorder.events.length;
    const listsBefore = harness.sim.stats().requests["GET /v2/evses"] ?? 0;

    armed = true;
    // Dies where the seed says and never returns.
    const finished = await Promise.race([killer.died, harness.poll(TIME_LIMIT)]);
    expect(finished, "the run reached its kill point").toBeUndefined();
    armed = false;

    let completed = false;
    for (let run = 0; run < 4 && !completed; run += 1) {
      harness.clock.advance(LEASE);
      completed = (await harness.poll(TIME_LIMIT, { coldStart: true })).sweepComplete;
    }
    expect(completed).toBe(true);

    await expectStoreMatchesFleet(harness);
    const events = recorder.events.slice(eventsBefore);
    const statusIds = idsByDevice(events, "EVSE Status Changed");
    for (const id of churned) {
      if (id === gone) continue;
      expect(statusIds.get(id)?.size, `change of ${id} published under one id`).toBe(1);
    }
    expect([...statusIds.keys()].every((id) => churned.has(id))).toBe(true);
    expect(idsByDevice(events, "EVSE Removed").get(gone)?.size).toBe(1);
    // Every change published is in its device's history exactly once, whatever died where.
    for (const id of [...churned, gone]) {
      const published = events.filter((event) => event.evseId === id).map((e) => e.eventId);
      const kept = (await harness.history(id)).map((entry) => entry.eventId);
      expect(kept.filter((eventId) => published.includes(eventId ?? "")).sort(), id).toEqual(
        [...new Set(published)].sort(),
      );
    }
    // At most one page fetched twice: the one the dead run had in hand.
    const lists = (harness.sim.stats().requests["GET /v2/evses"] ?? 0) - listsBefore;
    expect(lists).toBeLessThanOrEqual(pages + 1);
  });
});

describe("overlapping runs", () => {
  it("let exactly one work; the other exits cleanly and says so", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 300 } });
    const [a, b] = await Promise.all([harness.poll(), harness.poll()]);
    const stops = [a.stoppedBecause, b.stoppedBecause].sort();
    expect(stops).toEqual(["lease-held", null]);
    expect(a.evsesSeen + b.evsesSeen).toBe(300);
    expect(harness.publisher.events).toHaveLength(300);
  });

  it("never let a run that overran its lease move the checkpoint", async () => {
    let stallReads = false;
    let resume: () => void = () => undefined;
    let stalled: () => void = () => undefined;
    const isStalled = new Promise<void>((resolve) => {
      stalled = resolve;
    });
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 500 },
      wrapDevices: (store) =>
        storeWith(store, {
          readAfter: async (afterId, limit) => {
            if (stallReads) {
              stallReads = false;
              await new Promise<void>((resolve) => {
                resume = resolve;
                stalled();
              });
            }
            return store.readAfter(afterId, limit);
          },
        }),
    });
    stallReads = true;
    const overrunning = harness.poll(TIME_LIMIT);
    await isStalled;
    // The stalled run outlives its lease; another run takes over and completes the sweep.
    harness.clock.advance(LEASE + 1);
    const takeover = await harness.poll(TIME_LIMIT);
    expect(takeover).toMatchObject({ sweepComplete: true, evsesSeen: 500 });
    resume();
    const late = await overrunning;
    expect(late.stoppedBecause).toBe("lease-lost");
    expect(late.pages).toBe(1);
    // The checkpoint is the fresh one the takeover left: the next run starts a new sweep.
    harness.clock.advance(MINUTE);
    const next = await harness.poll(TIME_LIMIT);
    expect(next).toMatchObject({ sweepComplete: true, evsesSeen: 500, pages: 5 });
  });
});

describe("removals", () => {
  it("are never emitted by a partial sweep, and once by the complete one", async () => {
    let clockRef: { advance(ms: number): void } | undefined;
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 1_050 },
      // Each page takes a simulated minute, so a 5-minute run stops part-way through a sweep.
      wrapDevices: (store) =>
        storeWith(store, {
          readAfter: async (afterId, limit) => {
            clockRef?.advance(MINUTE);
            return store.readAfter(afterId, limit);
          },
        }),
    });
    clockRef = harness.clock;
    const first = [];
    do first.push(await harness.poll(5 * MINUTE));
    while (!first.at(-1)?.sweepComplete);
    expect(first.length).toBeGreaterThan(1);
    expect(first.slice(0, -1).every((run) => run.stoppedBecause === "time")).toBe(true);

    const gone = harness.sim.fleet.list()[700]?.id ?? "";
    harness.sim.fleet.remove(gone);
    const removed = () =>
      harness?.publisher.events.filter((e) => e.type === "EVSE Removed").map((e) => e.evseId);
    let run = await harness.poll(5 * MINUTE);
    while (!run.sweepComplete) {
      expect(removed()).toEqual([]);
      run = await harness.poll(5 * MINUTE);
    }
    expect(removed()).toEqual([gone]);
    expect((await harness.devices.get(gone))?.lifecycle).toBe("removed");

    do run = await harness.poll(5 * MINUTE);
    while (!run.sweepComplete);
    expect(removed()).toEqual([gone]);
  });
});

describe("ids out of ascending order", () => {
  it("are logged loudly, and the sweep removes nothing it cannot prove gone", async () => {
    const errors: string[] = [];
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 250 },
      logger: { ...silentLogger, error: (message) => void errors.push(message) },
    });
    await harness.poll();
    const fleet = harness.sim.fleet.list();
    const gone = fleet[30]?.id ?? "";
    harness.sim.fleet.remove(gone);
    // The second page's first item arrives with an id below everything already listed.
    const intruder = fleet[101]?.id ?? "";
    harness.sim.fleet.update(intruder, { rawOverride: { id: `evse${"0".repeat(25)}1` } });
    harness.clock.advance(MINUTE);
    const run = await harness.poll();
    expect(run.sweepComplete).toBe(true);
    expect(errors.some((message) => /out of ascending order/.test(message))).toBe(true);
    expect(harness.publisher.events.filter((e) => e.type === "EVSE Removed")).toEqual([]);
    expect((await harness.devices.get(gone))?.lifecycle).toBe("active");
  });
});

describe("removals en masse", () => {
  it("finds every vanished device even when a page's range holds more than the read-ahead", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 350 } });
    await harness.poll();
    const gone = harness.sim.fleet
      .list()
      .slice(120, 160)
      .map((device) => device.id);
    for (const id of gone) harness.sim.fleet.remove(id);
    harness.clock.advance(MINUTE);
    const run = await harness.poll();
    expect(run).toMatchObject({ sweepComplete: true, evsesSeen: 310 });
    const removed = harness.publisher.events.filter((e) => e.type === "EVSE Removed");
    expect(removed.map((e) => e.evseId).sort()).toEqual([...gone].sort());
    expect(run.changesByType["EVSE Removed"]).toBe(40);
  });
});

describe("the rate-limit budget", () => {
  it("over three simulated hours keeps every sliding hour within the share, with no 429", async () => {
    const limit = 100;
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 3_000, rateLimit: limit },
      env: { RATE_LIMIT_DEFAULT: String(limit), RESERVE_REQUESTS: "5", BUDGET_SHARE: "0.8" },
    });
    const random = seededRandom(3);
    let sweeps = 0;
    for (let slot = 0; slot < 36; slot += 1) {
      // The schedule fires; now and then Scheduler delivers twice or a new instance cold-starts.
      const run = await harness.poll(TIME_LIMIT, { coldStart: random() < 0.3 });
      if (run.sweepComplete) sweeps += 1;
      if (random() < 0.25) {
        harness.clock.advance(20_000);
        await harness.poll(TIME_LIMIT, { coldStart: true });
        harness.clock.advance(5 * MINUTE - 20_000);
      } else {
        harness.clock.advance(5 * MINUTE);
      }
    }
    const log = harness.sim.requestLog();
    expect(log.filter((entry) => entry.status === 429)).toEqual([]);
    let busiestHour = 0;
    for (let end = 0, start = 0; end < log.length; end += 1) {
      const at = log[end]?.at ?? 0;
      while ((log[start]?.at ?? 0) <= at - 3_600_000) start += 1;
      busiestHour = Math.max(busiestHour, end - start + 1);
    }
    expect(busiestHour).toBeLessThanOrEqual(0.8 * limit);
    // The budget is used, not just respected: 3 hours of ~80 requests read 6+ sweeps of 30 pages.
    expect(log.length).toBeGreaterThan(0.8 * limit * 2.5);
    expect(sweeps).toBeGreaterThanOrEqual(6);
  });
});

describe("under a fault mix", () => {
  it("completes sweeps over successive runs, losing nothing and doubling nothing", async () => {
    harness = await startPollHarness(dynamo, {
      simulator: {
        fleetSize: 2_000,
        seed: 11,
        faults: {
          serverErrorRate: 0.05,
          timeoutRate: 0.02,
          resetRate: 0.02,
          malformedJsonRate: 0.02,
          rateLimitBurst: { count: 3, retryAfterSeconds: 20 },
        },
      },
      // A real timeout (a hung request can only time out in real time): long enough that a
      // loaded machine's ordinary answers never look like one, short enough to keep it quick.
      env: { EVENERGY_REQUEST_TIMEOUT_MS: "1000" },
    });
    const sweep = async () => {
      for (let run = 0; run < 12; run += 1) {
        const summary = await harness?.poll(TIME_LIMIT);
        harness?.clock.advance(MINUTE);
        if (summary?.sweepComplete) return true;
      }
      return false;
    };
    expect(await sweep()).toBe(true);
    const churned = new Set(harness.sim.fleet.churn(0.1).map((change) => change.evseId));
    harness.sim.setFaults({
      serverErrorRate: 0.05,
      timeoutRate: 0.02,
      resetRate: 0.02,
      malformedJsonRate: 0.02,
      rateLimitBurst: { count: 3, retryAfterSeconds: 20 },
    });
    expect(await sweep()).toBe(true);

    await expectStoreMatchesFleet(harness);
    const events = harness.publisher.events;
    const discovered = idsByDevice(events, "EVSE Discovered");
    expect(discovered.size).toBe(2_000);
    expect([...discovered.values()].every((ids) => ids.size === 1)).toBe(true);
    const changed = idsByDevice(events, "EVSE Status Changed");
    expect(new Set(changed.keys())).toEqual(churned);
    expect([...changed.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(harness.sim.stats().rateLimited).toBeGreaterThan(0);
  }, 180_000);
});
