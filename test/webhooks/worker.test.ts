/**
 * The webhook worker over real sockets: the simulated ev.energy over HTTP, the embedded
 * DynamoDB, the poll beside it on the same table, clock and bus.
 */
import { afterEach, describe, expect, it } from "vitest";
import { eventDetail } from "../../functions/adapters/eventbridge/event-publisher.js";
import { CHANGE_EVENT_SCHEMAS } from "../../functions/core/event-schemas.js";
import { requestsInWindow } from "../../functions/core/webhooks/budget.js";
import { CapturingLogger } from "../ev-energy/helpers.js";
import { useDynalite } from "../support/dynamo.js";
import { storeWith } from "../support/poll-harness.js";
import { startWebhookHarness, subSessionWebhook } from "../support/webhook-harness.js";

const dynamo = useDynalite();
let harness: Awaited<ReturnType<typeof startWebhookHarness>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;

/** A harness with a polled fleet of `size`, and one device that starts charging now. */
async function chargingStarts(options: Parameters<typeof startWebhookHarness>[1] = {}) {
  const h = await startWebhookHarness(dynamo, { simulator: { fleetSize: 30 }, ...options });
  harness = h;
  await h.poll();
  h.clock.advance(MINUTE);
  const evse = h.sim.fleet.list()[4];
  if (!evse) throw new Error("fleet too small");
  h.sim.fleet.update(evse.id, {
    status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7_400 },
  });
  const start = h.clock.now();
  h.clock.advance(2_000);
  const webhook = subSessionWebhook("created", evse.id, { start, receivedAt: h.clock.now() });
  const before = h.publisher.events.length;
  return { h, evseId: evse.id, webhook, newEvents: () => h.publisher.events.slice(before) };
}

describe("a verified webhook", () => {
  it("refreshes the EVSE it names and publishes the change as the webhook's, with its history", async () => {
    const { h, evseId, webhook, newEvents } = await chargingStarts();
    const result = await h.deliver(webhook);
    expect(result.outcome).toBe("refreshed");
    const events = newEvents();
    expect(events.map((e) => [e.type, e.evseId, e.observedBy])).toEqual([
      ["EVSE Status Changed", evseId, "webhook"],
    ]);
    const detail = JSON.parse(JSON.stringify(eventDetail(events[0] as never)));
    expect(CHANGE_EVENT_SCHEMAS["EVSE Status Changed"].safeParse(detail).error).toBeUndefined();
    expect(await h.devices.get(evseId)).toMatchObject({ isCharging: true, version: 2 });
    const [latest] = await h.history(evseId);
    expect(latest).toMatchObject({ observedBy: "webhook", eventId: events[0]?.eventId });
    expect(h.refreshRequests()).toHaveLength(1);
    // The poll, coming second, finds the change stored: it publishes nothing for it.
    await h.poll();
    expect(newEvents()).toHaveLength(1);
  });

  it("lets the poll measure the webhook path's lead once, from its next read, and never shows the mark", async () => {
    const { h, evseId, webhook, newEvents } = await chargingStarts();
    await h.deliver(webhook);
    const deliveredAt = h.clock.now();
    const [published] = newEvents();
    expect(published?.current).not.toHaveProperty("webhookChangedAt");
    expect(await h.devices.get(evseId)).toMatchObject({
      webhookChangedAt: new Date(deliveredAt).toISOString(),
    });
    h.clock.advance(3 * MINUTE);
    h.sim.fleet.sampleAll();
    const confirming = await h.poll();
    expect(confirming.webhookLeadsMs).toEqual([3 * MINUTE]);
    expect(await h.devices.get(evseId)).not.toHaveProperty("webhookChangedAt");
    h.clock.advance(5 * MINUTE);
    h.sim.fleet.sampleAll();
    expect((await h.poll()).webhookLeadsMs).toEqual([]);
    expect(newEvents()).toHaveLength(1);
  });

  it("publishes nothing for a change the poll saw first (the same id is never published twice)", async () => {
    const { h, webhook, newEvents } = await chargingStarts();
    await h.poll();
    const byPoll = newEvents();
    expect(byPoll.map((e) => e.observedBy)).toEqual(["poll"]);
    expect((await h.deliver(webhook)).outcome).toBe("refreshed");
    expect(newEvents()).toEqual(byPoll);
  });

  it("does nothing the second time it is delivered, nor for a sub-session without an EVSE", async () => {
    const { h, webhook, newEvents } = await chargingStarts();
    expect((await h.deliver(webhook)).outcome).toBe("refreshed");
    h.clock.advance(3 * 3_600_000);
    expect(await h.deliver(webhook, { coldStart: true })).toEqual({
      outcome: "duplicate",
      events: [],
    });
    expect(h.refreshRequests()).toHaveLength(1);
    const none = subSessionWebhook("created", null, {
      start: h.clock.now(),
      receivedAt: h.clock.now(),
    });
    expect((await h.deliver(none)).outcome).toBe("no-evse");
    expect(h.refreshRequests()).toHaveLength(1);
    expect(newEvents()).toHaveLength(1);
  });

  it("changes nothing on a 429 or once the share is spent, and the next sweep publishes the change", async () => {
    // A limit of 1000 and a share of 0.004: 4 requests an hour, one refresh's worst case.
    const { h, evseId, webhook, newEvents } = await chargingStarts({
      workerEnv: { WEBHOOK_BUDGET_SHARE: "0.004" },
    });
    h.sim.script({ route: "GET /v2/evses/{id}", kind: "status", status: 429, retryAfter: "30" });
    expect((await h.deliver(webhook)).outcome).toBe("rate-limited");
    const other = subSessionWebhook("ended", evseId, {
      start: h.clock.now() - MINUTE,
      end: h.clock.now(),
      receivedAt: h.clock.now(),
    });
    expect((await h.deliver(other)).outcome).toBe("budget");
    expect(h.refreshRequests()).toHaveLength(1);
    expect(newEvents()).toEqual([]);
    expect(await h.devices.get(evseId)).toMatchObject({ isCharging: false, version: 1 });
    const run = await h.poll();
    expect(newEvents().map((e) => [e.type, e.observedBy])).toEqual([
      ["EVSE Status Changed", "poll"],
    ]);
    // A charging start only the poll saw: what the webhook-silence alarm counts.
    expect(run.chargingStarts).toBe(1);
  });

  it("retries once, later, when the sample predates the sub-session, and only then", async () => {
    const { h, evseId, newEvents } = await chargingStarts();
    // ev.energy announces a sub-session that started after the charger's latest sample.
    const webhook = subSessionWebhook("created", evseId, {
      start: h.clock.now() + 1_000,
      receivedAt: h.clock.now(),
    });
    expect(await h.deliver(webhook)).toEqual({
      outcome: "retry-later",
      delayMs: 60_000,
      events: [],
    });
    expect(newEvents()).toEqual([]);
    h.clock.advance(30_000);
    expect((await h.deliver(webhook)).outcome).toBe("duplicate");
    h.clock.advance(30_000);
    h.sim.fleet.update(evseId, { status: { chargeRateWatts: 11_000 } });
    const retried = await h.deliver(webhook);
    expect(retried.outcome).toBe("refreshed");
    expect(retried.events.map((e) => e.current.chargeRateWatts)).toEqual([11_000]);
    expect(h.refreshRequests()).toHaveLength(2);
    expect((await h.deliver(webhook)).outcome).toBe("duplicate");
  });
});

describe("a batch of webhooks at once", () => {
  it("gives back what each refresh did not send, so the ledger counts what was sent", async () => {
    const { h, webhook } = await chargingStarts();
    // The first refresh exchanges the worker's token: two requests.
    await h.deliver(webhook);
    const devices = h.sim.fleet.list().slice(10, 20);
    h.sim.fleet.sampleAll();
    const results = await Promise.all(
      devices.map((device) =>
        h.deliver(
          subSessionWebhook("created", device.id, {
            start: h.clock.now() - MINUTE,
            receivedAt: h.clock.now(),
          }),
        ),
      ),
    );
    expect(results.map((result) => result.outcome)).toEqual(Array(10).fill("refreshed"));
    expect(h.workerRequests()).toBe(12);
    // Each of the ten reserved 4 and sent 1: a count of the process's requests would have seen
    // the others' and given back nothing.
    const ledger = await h.ledger.read();
    expect(requestsInWindow(ledger, h.clock.now(), { sendMarginMs: 0 })).toBe(12);
  });
});

describe("a refund that cannot be written", () => {
  it("leaves the reservation counted and the finished work finished", async () => {
    const logger = new CapturingLogger();
    let writes = 0;
    const { h, webhook, newEvents } = await chargingStarts({
      workerLogger: logger,
      wrapLedger: (store) => ({
        read: () => store.read(),
        write: async (next, expected) => {
          writes += 1;
          if (writes === 2) throw new Error("DynamoDB unreachable");
          return store.write(next, expected);
        },
      }),
    });
    expect((await h.deliver(webhook)).outcome).toBe("refreshed");
    expect(newEvents()).toHaveLength(1);
    expect(logger.lines.map((line) => line.message)).toContain(
      "webhook share refund not written; the reserved requests stay counted",
    );
    const ledger = await h.ledger.read();
    expect(requestsInWindow(ledger, h.clock.now(), { sendMarginMs: 0 })).toBe(4);
    expect((await h.deliver(webhook)).outcome).toBe("duplicate");
  });
});

describe("a worker that dies", () => {
  it("between publish and write: the redelivery and the poll derive the same id, in either order", async () => {
    for (const recoverer of ["webhook", "poll"] as const) {
      let crash = true;
      const { h, webhook, newEvents } = await chargingStarts({
        wrapWorkerDevices: (store) =>
          storeWith(store, {
            put: async (state, expected) => {
              if (crash) {
                crash = false;
                throw new Error("worker died before its write");
              }
              return store.put(state, expected);
            },
          }),
      });
      await expect(h.deliver(webhook)).rejects.toThrow("worker died");
      const [published] = newEvents();
      // Before the claim's lease runs out, a redelivery leaves it to the owner.
      expect((await h.deliver(webhook)).outcome).toBe("duplicate");
      h.clock.advance(3 * MINUTE);
      if (recoverer === "webhook")
        expect((await h.deliver(webhook, { coldStart: true })).outcome).toBe("refreshed");
      else await h.poll();
      const ids = new Set(newEvents().map((e) => e.eventId));
      expect([...ids], recoverer).toEqual([published?.eventId]);
      await h.close();
      harness = undefined;
    }
  });

  it("after claiming, before its refresh: the redelivery does it all once the lease runs out", async () => {
    let crash = true;
    const { h, webhook, newEvents } = await chargingStarts({
      wrapWorkerApi: (api) => ({
        listEvses: (options) => api.listEvses(options),
        deleteEvse: (id, options) => api.deleteEvse(id, options),
        get rateLimit() {
          return api.rateLimit;
        },
        getEvse: async (id, options) => {
          if (crash) {
            crash = false;
            throw new Error("worker died before its refresh");
          }
          return api.getEvse(id, options);
        },
      }),
    });
    await expect(h.deliver(webhook)).rejects.toThrow("worker died");
    expect(newEvents()).toEqual([]);
    h.clock.advance(3 * MINUTE);
    expect((await h.deliver(webhook)).outcome).toBe("refreshed");
    expect(newEvents().map((e) => e.observedBy)).toEqual(["webhook"]);
  });
});
