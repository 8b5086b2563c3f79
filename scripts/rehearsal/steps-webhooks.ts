/**
 * ev.energy's webhooks through what the stacks deploy: the public API (no AWS identity), the
 * receiver verifying the Svix signature against the secret an operator filled, the queue, the
 * worker refreshing the EVSE and publishing the change; a forged delivery refused, a repeated
 * one doing nothing, and the next poll publishing nothing more for the same change.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Webhook } from "svix";
import { WEBHOOK_RESOURCE_PATH } from "../../infra/constructs/webhooks.js";
import type { ApiAnswer } from "./event-sources.js";
import {
  type BusEvent,
  countBy,
  describeAnswer,
  drain,
  expect,
  failure,
  runScheduled,
  type Step,
  type World,
} from "./world.js";

const ONLINE_MS = 5 * 60_000;

/** A `charging_sub_session.created` for `evseId`, as ev.energy sends it, signed with `secret`. */
function subSessionCreated(evseId: string, start: number, secret: string, messageId: string) {
  const csub = `csub${randomBytes(16)
    .toString("hex")
    .toUpperCase()
    .replace(/[^0-9A-Z]/g, "")
    .slice(0, 26)
    .padEnd(26, "0")}`;
  const body = JSON.stringify({
    type: "charging_sub_session.created",
    timestamp: new Date(start).toISOString(),
    data: {
      id: csub,
      url: `https://api.ev.energy/v2/charging_sub_sessions/${csub}`,
      start: new Date(start).toISOString(),
      end: null,
      mode: "SMART",
      energy_delivered_watt_hours: 0,
      evse: `https://api.ev.energy/v2/evses/${evseId}`,
    },
  });
  // Svix signs with the wall clock, which is what the receiver's verifier reads too.
  const now = new Date();
  return {
    body,
    sign: (key = secret): Array<[string, string]> => [
      ["svix-id", messageId],
      ["svix-timestamp", String(Math.floor(now.getTime() / 1000))],
      ["svix-signature", new Webhook(key).sign(messageId, now, body)],
      ["Content-Type", "application/json"],
    ],
  };
}

async function deliverWebhook(world: World, body: string, headers: Array<[string, string]>) {
  return world.need(world.webhookApi, "the webhooks API").call({
    method: "POST",
    path: WEBHOOK_RESOURCE_PATH,
    headers,
    rawBody: body,
  });
}

function statusChanges(events: BusEvent[], evseId: string) {
  return events.filter(
    (event) => event["detail-type"] === "EVSE Status Changed" && event.detail.evseId === evseId,
  );
}

export const WEBHOOK_STEPS: readonly Step[] = [
  {
    title: "a signed webhook reaches the bus through the public API, the queue and the worker",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      const source = world.need(world.webhookSource, "the webhook queue");
      const subscriber = world.need(world.subscriberQueue, "subscriber");
      const secret = world.need(world.webhookSecret, "the signing secret");
      const taken = new Set(Object.values(world.devices));
      const now = simulator.clock.now();
      const device = simulator.fleet
        .list()
        .find(
          (each) =>
            !taken.has(each.id) &&
            each.status !== null &&
            each.status.isCharging === false &&
            now - each.status.sampledAt < ONLINE_MS,
        );
      const evseId = world.need(device?.id, "an idle online EVSE");
      world.devices.webhook = evseId;
      simulator.fleet.update(evseId, {
        status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7200 },
      });
      const webhook = subSessionCreated(
        evseId,
        simulator.clock.now() - 1_000,
        secret,
        `msg_${randomUUID()}`,
      );

      const forged = await deliverWebhook(
        world,
        webhook.body,
        webhook.sign(`whsec_${randomBytes(24).toString("base64")}`),
      );
      expect(
        forged.status === 401,
        `a delivery signed with another secret: ${describeAnswer(forged)}`,
      );
      const afterForged = await source.depth();
      expect(
        afterForged.visible + afterForged.inFlight === 0,
        `the forged delivery queued ${afterForged.visible + afterForged.inFlight} messages`,
      );

      const accepted: ApiAnswer = await deliverWebhook(world, webhook.body, webhook.sign());
      expect(
        accepted.status >= 200 && accepted.status < 300,
        `the signed delivery: ${describeAnswer(accepted)}`,
      );
      const delivery = await source.poll();
      expect(
        delivery.messages.length === 1,
        `${delivery.messages.length} messages reached the worker`,
      );
      expect(
        delivery.invocation?.error === undefined,
        `the worker: ${failure(delivery.invocation)}`,
      );
      expect(
        delivery.deleted.length === 1,
        `the worker kept the message: ${JSON.stringify(delivery.invocation?.result)}`,
      );
      const first = await drain(world, subscriber);
      const changed = statusChanges(first, evseId);
      expect(
        changed.length === 1 && changed[0]?.detail.observedBy === "webhook",
        `the subscriber got ${countBy(first.map((event) => `${event["detail-type"]} (${String(event.detail.observedBy)})`))}`,
      );

      // Svix retries the same message: the worker does nothing the second time.
      const again = await deliverWebhook(world, webhook.body, webhook.sign());
      expect(
        again.status >= 200 && again.status < 300,
        `the repeated delivery: ${describeAnswer(again)}`,
      );
      const repeated = await source.poll();
      expect(
        repeated.invocation?.error === undefined,
        `the worker: ${failure(repeated.invocation)}`,
      );
      const second = await drain(world, subscriber);
      expect(
        second.length === 0,
        `the repeat published ${countBy(second.map((event) => event["detail-type"]))}`,
      );

      // The poll sees the same state: it publishes nothing more for it.
      await runScheduled(world, "poll");
      const third = await drain(world, subscriber);
      const polled = third.filter((event) => event.detail.evseId === evseId);
      expect(
        polled.length === 0,
        `the poll published ${countBy(polled.map((event) => event["detail-type"]))} for ${evseId}`,
      );
      return [
        `another secret's signature: ${describeAnswer(forged)}, nothing queued`,
        `signed delivery: ${accepted.status}; the worker → ${JSON.stringify(delivery.invocation?.result)}; the subscriber got 1 × EVSE Status Changed (observedBy webhook) for ${evseId}`,
        `the same message again: ${again.status}, the worker published nothing`,
        `the next poll: ${third.length} events, none for ${evseId}`,
      ];
    },
  },
];
