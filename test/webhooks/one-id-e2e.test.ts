/**
 * A mode switch's `ended` and `created` for one EVSE, handled at once (one batch), over the
 * embedded DynamoDB and the simulator: W1 refreshes first and sees a newer sample without a
 * change; W2 refreshes after the charger starts, publishes the change, and W1's write lands
 * before W2's. W2's write conflicts, it reads again and writes the same change: one id.
 */
import { afterEach, expect, it } from "vitest";
import type { DeviceStore, EvEnergyApi } from "../../functions/ports.js";
import { useDynalite } from "../support/dynamo.js";
import { startWebhookHarness, subSessionWebhook } from "../support/webhook-harness.js";

const dynamo = useDynalite();
let close: (() => Promise<void>) | undefined;
afterEach(async () => close?.());

it("publishes one charging start under one id when two workers refresh the EVSE at once", async () => {
  let w1AtGate = () => {};
  const w1Waiting = new Promise<void>((resolve) => {
    w1AtGate = resolve;
  });
  let openGate = () => {};
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  let gets = 0;
  let w1: Promise<unknown> = Promise.resolve();
  let held = false;

  const h = await startWebhookHarness(dynamo, {
    simulator: { fleetSize: 5 },
    wrapWorkerApi: (api: EvEnergyApi): EvEnergyApi => ({
      listEvses: (...args) => api.listEvses(...args),
      async getEvse(...args) {
        const result = await api.getEvse(...args);
        gets += 1;
        // W1 is slow after its GET (scheduling, DynamoDB latency).
        if (gets === 1) {
          w1AtGate();
          await gate;
        }
        return result;
      },
      deleteEvse: (...args) => api.deleteEvse(...args),
      get rateLimit() {
        return api.rateLimit;
      },
    }),
    wrapWorkerDevices: (store: DeviceStore): DeviceStore => ({
      get: (id) => store.get(id),
      readRange: (range) => store.readRange(range),
      readAfter: (after, limit) => store.readAfter(after, limit),
      async put(state, expectedVersion, expectedLastSeenAt) {
        if (state.isCharging === true && !held) {
          // W2 has published (publish comes before the write); W1 now finishes first.
          held = true;
          openGate();
          await w1;
        }
        return store.put(state, expectedVersion, expectedLastSeenAt);
      },
    }),
  });
  close = () => h.close();
  const evse = h.sim.fleet.list()[2];
  if (!evse) throw new Error("no device");
  h.sim.fleet.update(evse.id, {
    status: { isPluggedIn: true, isCharging: false, chargeRateWatts: 0 },
  });
  await h.poll();
  h.clock.advance(60_000);
  h.sim.fleet.update(evse.id, {
    status: { isPluggedIn: true, isCharging: false, chargeRateWatts: 0 },
  });
  const start = h.clock.now();
  h.clock.advance(1_000);
  const before = h.publisher.events.length;
  w1 = h.deliver(
    subSessionWebhook("ended", evse.id, {
      start: start - 600_000,
      end: start,
      receivedAt: h.clock.now(),
    }),
  );
  await w1Waiting;
  h.clock.advance(1_000);
  h.sim.fleet.update(evse.id, {
    status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7_400 },
  });
  const created = subSessionWebhook("created", evse.id, {
    start: h.clock.now(),
    receivedAt: h.clock.now(),
  });
  h.clock.advance(1_000);
  expect((await h.deliver(created)).outcome).toBe("refreshed");
  await w1;
  // W2 publishes the change again after its conflict (publish comes before the write), under
  // the id it had: consumers, deduplicating on it, see it once.
  const published = h.publisher.events.slice(before);
  expect(published.length).toBeGreaterThan(0);
  expect(new Set(published.map((event) => event.eventId)).size).toBe(1);
  expect(published.every((event) => event.type === "EVSE Status Changed")).toBe(true);
  expect(await h.devices.get(evse.id)).toMatchObject({
    isCharging: true,
    version: published[0]?.current.version,
  });
});
