/**
 * Receiver, queue and worker end to end over the embedded DynamoDB and the simulated ev.energy:
 * a verified webhook's change reaches the bus; an unverified one changes nothing stored.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { Webhook } from "svix";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  signingSecretsOf,
  WebhookSecretError,
} from "../../functions/adapters/secrets/webhook-signing-secrets.js";
import { SvixSignatureVerifier } from "../../functions/adapters/svix/signature-verifier.js";
import { createWebhookReceiver, WEBHOOK_PATH } from "../../functions/webhook-receiver.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { useDynalite } from "../support/dynamo.js";
import { silentLogger } from "../support/poll-harness.js";
import { startWebhookHarness, subSessionWebhook } from "../support/webhook-harness.js";

const dynamo = useDynalite();
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
let harness: Awaited<ReturnType<typeof startWebhookHarness>> | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
});
afterEach(async () => {
  vi.useRealTimers();
  await harness?.close();
  harness = undefined;
});

async function setUp() {
  const h = await startWebhookHarness(dynamo, { simulator: { fleetSize: 20 } });
  harness = h;
  await h.poll();
  h.clock.advance(60_000);
  const evse = h.sim.fleet.list()[2];
  if (!evse) throw new Error("fleet too small");
  h.sim.fleet.update(evse.id, {
    status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7_000 },
  });
  // Svix's verifier reads Date: it agrees with the simulated clock here.
  vi.setSystemTime(h.clock.now());
  const receive = createWebhookReceiver(
    {
      verifier: new SvixSignatureVerifier(silentLogger),
      secrets: { read: async () => [SECRET] },
      // The sandbox's queue: the worker takes each message at once.
      queue: { enqueue: async (message) => void (await h.deliver(message)) },
      clock: h.clock,
      logger: silentLogger,
    },
    { maxBodyBytes: 65_536 },
  );
  const webhook = subSessionWebhook("created", evse.id, {
    start: h.clock.now() - 1_000,
    receivedAt: h.clock.now(),
  });
  const body = JSON.stringify(webhook.body);
  const post = (secret: string) =>
    receive(
      proxyEvent({
        method: "POST",
        path: WEBHOOK_PATH,
        headers: [
          ["svix-id", webhook.messageId],
          ["svix-timestamp", String(Math.floor(h.clock.now() / 1000))],
          [
            "svix-signature",
            new Webhook(secret).sign(webhook.messageId, new Date(h.clock.now()), body),
          ],
        ],
        body,
      }),
    );
  const items = async () =>
    (await dynamo.documents.send(new ScanCommand({ TableName: h.tableName }))).Items ?? [];
  return { h, evseId: evse.id, post, items };
}

describe("a webhook from the endpoint to the bus", () => {
  it("an unverified request changes nothing stored and asks ev.energy nothing", async () => {
    const { h, post, items } = await setUp();
    const before = await items();
    const events = h.publisher.events.length;
    const requests = h.sim.requestLog().length;
    const answer = await post("whsec_aW1wb3N0b3Itc2VjcmV0LWtleS0xMjM0NTY=");
    expect(answer.statusCode).toBe(401);
    expect(await items()).toEqual(before);
    expect(h.publisher.events.length).toBe(events);
    expect(h.sim.requestLog().length).toBe(requests);
  });

  it("a verified one puts the change on the bus as the webhook's", async () => {
    const { h, evseId, post } = await setUp();
    expect((await post(SECRET)).statusCode).toBe(200);
    expect(h.publisher.events.at(-1)).toMatchObject({
      type: "EVSE Status Changed",
      evseId,
      observedBy: "webhook",
    });
  });
});

describe("the signing secrets in Secrets Manager", () => {
  it("are the current key, then the previous one during a rotation", () => {
    expect(signingSecretsOf(JSON.stringify({ current: SECRET }))).toEqual([SECRET]);
    expect(signingSecretsOf(JSON.stringify({ current: SECRET, previous: "whsec_b2xk" }))).toEqual([
      SECRET,
      "whsec_b2xk",
    ]);
  });

  it("refuse a malformed value, naming the shape and never the value", () => {
    for (const value of [
      "whsec_plain-not-json",
      JSON.stringify({ current: "sk_live_x" }),
      undefined,
    ]) {
      expect(() => signingSecretsOf(value)).toThrow(WebhookSecretError);
      try {
        signingSecretsOf(value);
      } catch (error) {
        expect(String(error)).not.toContain("plain-not-json");
        expect(String(error)).not.toContain("sk_live_x");
      }
    }
  });
});
