/**
 * One alert for a fleet-wide event: a silence of a large share of the fleet makes exactly one
 * degraded event and, once it ends, one restored event, while consumers still receive every
 * device's own change, under the same ids as without the alert. The state machine behind it is
 * checked with fast-check over arbitrary sweeps.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { eventDetail } from "../../functions/adapters/eventbridge/event-publisher.js";
import type { ChangeEvent } from "../../functions/core/device-state.js";
import { FLEET_EVENT_SCHEMAS } from "../../functions/core/event-schemas.js";
import {
  checkDegraded,
  checkRestored,
  degradedThreshold,
  FLEET_DEGRADED,
  FLEET_RESTORED,
  type FleetEvent,
} from "../../functions/core/fleet-alert.js";
import {
  type FleetProgress,
  freshProgress,
  snapshotOf,
} from "../../functions/core/fleet-snapshot.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness, storeWith } from "../support/poll-harness.js";

const dynamo = useDynalite();
const harnesses: Array<Awaited<ReturnType<typeof startPollHarness>>> = [];
afterAll(async () => {
  for (const harness of harnesses) await harness.close();
});

const MINUTE = 60_000;

/**
 * A fleet of 400 through six complete sweeps: discovery, a baseline, 30% silent at once (the
 * degrading sweep split over runs), still silent, recovered, quiet again.
 */
async function silenceScenario(degradedShare: string) {
  let clockRef: { advance(ms: number): void } | undefined;
  const harness = await startPollHarness(dynamo, {
    simulator: { fleetSize: 400, seed: 9 },
    env: { FLEET_DEGRADED_SHARE: degradedShare },
    // Each page takes a simulated minute, so a short run stops part-way through a sweep.
    wrapDevices: (store) =>
      storeWith(store, {
        readAfter: async (afterId, limit) => {
          clockRef?.advance(MINUTE);
          return store.readAfter(afterId, limit);
        },
      }),
  });
  harnesses.push(harness);
  const { sim, clock } = harness;
  clockRef = clock;
  const sweep = async (timeLimitMs = 30 * MINUTE) => {
    const runs = [];
    do {
      clock.advance(MINUTE);
      runs.push(await harness.poll(timeLimitMs));
    } while (!runs.at(-1)?.sweepComplete);
    return runs;
  };
  const tick = (minutes: number) => {
    clock.advance(minutes * MINUTE);
    sim.fleet.sampleAll();
  };

  const discovery = await sweep();
  tick(5);
  const baseline = await sweep();
  const eventsBefore = harness.publisher.events.length;

  const silenced = sim.fleet.silence(0.3);
  tick(16);
  // The degrading sweep is split over runs of two pages each.
  const degrading = await sweep(2 * MINUTE);
  tick(5);
  const still = await sweep();
  const recovered = sim.fleet.recover();
  tick(2);
  const recovering = await sweep();
  tick(5);
  const quiet = await sweep();
  return {
    harness,
    silenced,
    recovered,
    runs: { discovery, baseline, degrading, still, recovering, quiet },
    deviceEvents: harness.publisher.events.slice(eventsBefore),
  };
}

function connectivityTo(events: readonly ChangeEvent[], connectivity: string) {
  return events
    .filter(
      (e) => e.type === "EVSE Connectivity Changed" && e.current.connectivity === connectivity,
    )
    .map((e) => e.evseId)
    .sort();
}

/** Each scenario runs once, for the tests that read it. */
const scenarios = new Map<string, ReturnType<typeof silenceScenario>>();
function scenario(degradedShare: string) {
  let run = scenarios.get(degradedShare);
  if (run === undefined) {
    run = silenceScenario(degradedShare);
    scenarios.set(degradedShare, run);
  }
  return run;
}

describe("a fleet-wide silence", () => {
  it("makes one degraded and one restored event; every device's change is still published", async () => {
    const { harness, silenced, recovered, runs, deviceEvents } = await scenario("0.2");
    const fleet = harness.fleetEvents;

    expect(fleet.map((event) => event.type)).toEqual([FLEET_DEGRADED, FLEET_RESTORED]);
    const [degraded, restored] = fleet as [FleetEvent, FleetEvent];
    for (const event of fleet) {
      const parsed = FLEET_EVENT_SCHEMAS[event.type].safeParse(
        JSON.parse(JSON.stringify(eventDetail(event))),
      );
      expect(parsed.error, event.type).toBeUndefined();
    }
    // Published by the degrading sweep, as soon as the running count crossed 20% of 600.
    // ... by a later run than the sweep's first: the running count rides in the checkpoint.
    expect(runs.degrading.length).toBeGreaterThanOrEqual(2);
    expect(runs.degrading.findIndex((run) => run.fleetEvents > 0)).toBeGreaterThanOrEqual(1);
    const degradingSweepId = runs.degrading[0]?.sweepId;
    expect(degraded).toMatchObject({
      sweepId: degradingSweepId,
      activeFleet: 400,
      threshold: 80,
      thresholdShare: 0.2,
    });
    if (degraded.type !== FLEET_DEGRADED) throw new Error("not a degraded event");
    expect(degraded.newlyOffline).toBeGreaterThanOrEqual(80);
    expect(degraded.newlyOffline).toBeLessThan(silenced.length);
    expect(Date.parse(degraded.window.from)).toBeLessThan(Date.parse(degraded.window.to));
    expect(runs.degrading.filter((run) => run.fleetEvents > 0)).toHaveLength(1);
    expect(restored).toMatchObject({
      sweepId: runs.recovering.at(-1)?.sweepId,
      degradedSweepId: degradingSweepId,
    });

    // The alarm's metric: degraded from the run that published it until the restored one.
    const flags = (list: typeof runs.degrading) => list.map((run) => run.fleetDegraded);
    expect(flags(runs.baseline)).toEqual(runs.baseline.map(() => false));
    expect(runs.degrading.at(-1)?.fleetDegraded).toBe(true);
    expect(flags(runs.still).every(Boolean)).toBe(true);
    expect(runs.recovering.at(-1)?.fleetDegraded).toBe(false);
    expect(runs.degrading.at(-1)?.snapshot?.connectivityDegraded).toBe(true);
    expect(runs.quiet.at(-1)?.snapshot?.connectivityDegraded).toBe(false);

    // Consumers still get every device's own change, once each.
    expect(connectivityTo(deviceEvents, "offline")).toEqual(silenced);
    expect(connectivityTo(deviceEvents, "online")).toEqual(recovered);
    expect(recovered).toEqual(silenced);
  });

  it("leaves the per-device events and their ids exactly as without the alert", async () => {
    const withAlert = await scenario("0.2");
    const without = await scenario("1");
    expect(without.harness.fleetEvents).toEqual([]);
    const ids = (events: readonly ChangeEvent[]) =>
      events.map((event) => `${event.type} ${event.evseId} ${event.eventId}`).sort();
    expect(ids(withAlert.deviceEvents)).toEqual(ids(without.deviceEvents));
    expect(withAlert.silenced.length).toBeGreaterThan(100);
    expect(withAlert.deviceEvents.length).toBe(2 * withAlert.silenced.length);
  });
});

describe("the fleet alert's state machine", () => {
  /** One sweep: devices read per page, the newly offline among them, offline at its end. */
  const sweepArbitrary = fc.record({
    active: fc.integer({ min: 0, max: 400 }),
    pages: fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 6 }),
    offlineAtEnd: fc.integer({ min: 0, max: 400 }),
  });

  it("alternates degraded and restored, at most one each per sweep, restored only when back", () => {
    fc.assert(
      fc.property(
        fc.array(sweepArbitrary, { minLength: 1, maxLength: 25 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        (sweeps, share) => {
          const settings = { degradedShare: share };
          let progress: FleetProgress = freshProgress();
          const events: Array<{ type: string; sweep: number }> = [];
          sweeps.forEach((sweep, index) => {
            const sweepId = `sweep-${index}`;
            let degradedThisSweep = 0;
            for (const newlyOffline of sweep.pages) {
              progress = {
                ...progress,
                tally: {
                  ...progress.tally,
                  newlyOffline: progress.tally.newlyOffline + newlyOffline,
                },
              };
              const alert = checkDegraded(progress, { sweepId, startedAt: "t" }, index, settings);
              if (alert) {
                // Never without a complete sweep before, and only at the threshold.
                const base = progress.lastComplete;
                expect(base).not.toBeNull();
                expect(progress.tally.newlyOffline).toBeGreaterThanOrEqual(
                  degradedThreshold(base?.active ?? 0, share),
                );
                events.push({ type: FLEET_DEGRADED, sweep: index });
                degradedThisSweep += 1;
                progress = alert.progress;
              }
            }
            expect(degradedThisSweep).toBeLessThanOrEqual(1);
            const tally = { ...progress.tally, active: sweep.active, offline: sweep.offlineAtEnd };
            const snapshot = snapshotOf(
              { ...progress, tally },
              {
                sweepId,
                startedAt: "t",
                completedAt: "t",
              },
            );
            const restored = checkRestored({ ...progress, tally }, snapshot, index, settings);
            if (restored) {
              expect(progress.degraded).not.toBeNull();
              const margin = Math.floor(degradedThreshold(sweep.active, share) / 2);
              expect(sweep.offlineAtEnd).toBeLessThanOrEqual(
                (progress.degraded?.baselineOffline ?? 0) + margin,
              );
              events.push({ type: FLEET_RESTORED, sweep: index });
            }
            progress = freshProgress({
              lastComplete: { sweepId, active: sweep.active, offline: sweep.offlineAtEnd },
              degraded: restored ? null : progress.degraded,
            });
          });
          events.forEach((event, i) => {
            expect(event.type).toBe(i % 2 === 0 ? FLEET_DEGRADED : FLEET_RESTORED);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
