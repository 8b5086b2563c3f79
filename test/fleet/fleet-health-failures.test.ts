/**
 * Fleet health when a write or a publish does not go as planned: a degraded event whose publish
 * fails on the page that crosses the threshold (the sweep's last), and a rollup append from a
 * run that lost its lease landing after a newer run's. Neither may lose the alert nor leave an
 * online charger counted offline.
 */
import { describe, expect, it } from "vitest";
import type { ChangeEvent } from "../../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../../functions/core/fleet-alert.js";
import type { EventPublisher, FleetHealthStore } from "../../functions/ports.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness } from "../support/poll-harness.js";
import { apiOver, body } from "./api-fleet.js";

const dynamo = useDynalite();
const MINUTE = 60_000;

describe("fleet health under failures", () => {
  it("publishes the degraded event in a later run when its publishes failed on the sweep's last page", async () => {
    // The crossing page's publish and the same run's retry at the sweep's end both fail.
    let fleetPublishesToFail = 2;
    const fleetEvents: FleetEvent[] = [];
    const publisher: EventPublisher<ChangeEvent | FleetEvent> = {
      async publish(events) {
        const failed: Array<ChangeEvent | FleetEvent> = [];
        for (const event of events) {
          if (!isFleetEvent(event)) continue;
          if (fleetPublishesToFail > 0) {
            fleetPublishesToFail -= 1;
            failed.push(event);
          } else fleetEvents.push(event);
        }
        return { failed };
      },
    };
    // 50 chargers are one page: the page that crosses the threshold ends the sweep.
    const harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 50, seed: 5 },
      publisher: publisher as EventPublisher,
    });
    try {
      const tick = (minutes: number) => {
        harness.clock.advance(minutes * MINUTE);
        harness.sim.fleet.sampleAll();
      };
      await harness.poll();
      tick(5);
      await harness.poll();
      harness.sim.fleet.silence(0.5);
      tick(16);
      const degrading = await harness.poll();
      expect(degrading.publishFailures).toBe(2);
      expect(fleetEvents).toEqual([]);
      // The alarm's metric says degraded at once, whether or not the event made it.
      expect(degrading.fleetDegraded).toBe(true);
      tick(5);
      await harness.poll();
      expect(fleetEvents.map((event) => event.type)).toEqual(["EVSE Fleet Connectivity Degraded"]);
      expect(fleetEvents[0]?.sweepId).toBe(degrading.sweepId);
      for (let i = 0; i < 3; i++) {
        tick(5);
        await harness.poll();
      }
      expect(fleetEvents).toHaveLength(1);
      harness.sim.fleet.recover();
      tick(5);
      await harness.poll();
      expect(fleetEvents.map((event) => event.type)).toEqual([
        "EVSE Fleet Connectivity Degraded",
        "EVSE Fleet Connectivity Restored",
      ]);
    } finally {
      await harness.close();
    }
  });

  it("never lets a late rollup append of a superseded run count an online charger offline", async () => {
    let held: { evseId: string; reached: () => void; release: Promise<void> } | undefined;
    let release = () => {};
    let reached = () => {};
    const holding = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 5, seed: 11 },
      wrapHealth: (store): FleetHealthStore => ({
        putSnapshot: (snapshot) => store.putSnapshot(snapshot),
        async record(state, records) {
          const hold = held;
          if (hold && state.evseId === hold.evseId && state.connectivity === "offline") {
            held = undefined; // run A's first attempt only: an SDK retry, a long GC pause
            hold.reached();
            await hold.release;
          }
          return store.record(state, records);
        },
      }),
    });
    try {
      const { sim, clock } = harness;
      await harness.poll(60_000);
      clock.advance(5 * MINUTE);
      sim.fleet.sampleAll();
      await harness.poll(60_000);
      const [evseId = ""] = sim.fleet.silence(0.2);
      held = {
        evseId,
        reached,
        release: new Promise<void>((resolve) => {
          release = resolve;
        }),
      };
      clock.advance(16 * MINUTE);
      sim.fleet.sampleAll();
      // Run A sees the charger offline; its rollup append stalls.
      const runA = harness.poll(60_000);
      await holding;
      // Its lease (run limit + 1 minute) runs out; run B takes over and writes the same change.
      clock.advance(3 * MINUTE);
      await harness.poll(60_000, { coldStart: true });
      // The charger comes back; run C records it online.
      sim.fleet.recover();
      clock.advance(5 * MINUTE);
      sim.fleet.sampleAll();
      await harness.poll(60_000, { coldStart: true });
      // Run A's append lands now, after C's.
      release();
      await runA;
      clock.advance(60 * MINUTE);
      sim.fleet.sampleAll();
      await harness.poll(60_000, { coldStart: true });

      expect((await harness.devices.get(evseId))?.connectivity).toBe("online");
      const availability = body<{ stateAtEnd: string; outages: number }>(
        await apiOver(dynamo, harness.tableName, clock).get(`/evses/${evseId}/availability`, {
          from: "2026-03-02T00:00:00Z",
        }),
      );
      expect(availability).toMatchObject({ stateAtEnd: "online", outages: 1 });
    } finally {
      await harness.close();
    }
  });
});
