/**
 * The public receiver: Svix signature cases (the verifier reads the real clock, so these tests
 * set Date with vitest's fake timers), body limit, rotation, and that nothing unverified is
 * queued or stored.
 */
import { Webhook } from "svix";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SvixSignatureVerifier } from "../../functions/adapters/svix/signature-verifier.js";
import type { QueuedWebhook } from "../../functions/core/webhooks/ports.js";
import type { ReceiverVerdict } from "../../functions/lib/webhook-metrics.js";
import { createWebhookReceiver, WEBHOOK_PATH } from "../../functions/webhook-receiver.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { ManualClock } from "../../local/manual-clock.js";
import { silentLogger } from "../support/poll-harness.js";

const NOW = Date.parse("2026-03-02T08:14:00Z");
// Test keys only: random bytes, base64, as Svix issues them.
const CURRENT = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PREVIOUS = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const FOREIGN = "whsec_aW1wb3N0b3Itc2VjcmV0LWtleS0xMjM0NTY=";
const BODY = `{"type":"charging_sub_session.created","timestamp":"2026-03-02T08:13:59.1Z","data":{"id":"csub01HSH04KDEWF6Z4DB2J77J74K5","start":"2026-03-02T08:13:55Z","end":null,"evse":"https://api.ev.energy/v2/evses/evse01HSH04KDEWF6Z4DB2J77J74K5"}}`;
const ID = "msg_2eoqqPZwMlztxZbIXr0eeqYTscI";

function signed(options: { secret?: string; at?: number; body?: string; id?: string } = {}) {
  const at = options.at ?? NOW;
  const body = options.body ?? BODY;
  const id = options.id ?? ID;
  const signature = new Webhook(options.secret ?? CURRENT).sign(id, new Date(at), body);
  return {
    "svix-id": id,
    "svix-timestamp": String(Math.floor(at / 1000)),
    "svix-signature": signature,
  };
}

function world(secrets: string[] = [CURRENT, PREVIOUS]) {
  const queued: QueuedWebhook[] = [];
  const verdicts: ReceiverVerdict[] = [];
  const clock = new ManualClock(NOW);
  const secretReads = { count: 0 };
  const receive = createWebhookReceiver(
    {
      verifier: new SvixSignatureVerifier(silentLogger),
      secrets: {
        read: async () => {
          secretReads.count += 1;
          return secrets;
        },
      },
      queue: {
        enqueue: async (message) => {
          queued.push(message);
        },
      },
      clock,
      logger: silentLogger,
    },
    { maxBodyBytes: 4096, onVerdict: (verdict) => verdicts.push(verdict) },
  );
  const post = (headers: Record<string, string>, body = BODY) =>
    receive(
      proxyEvent({
        method: "POST",
        path: WEBHOOK_PATH,
        headers: [["Content-Type", "application/json"], ...Object.entries(headers)],
        body,
      }),
    );
  return { queued, verdicts, post, receive, secretReads };
}

async function expectUnverified(
  answer: Awaited<ReturnType<ReturnType<typeof world>["post"]>>,
  queued: QueuedWebhook[],
) {
  expect(answer.statusCode).toBe(401);
  expect(answer.headers?.["Content-Type"]).toBe("application/problem+json");
  const problem = JSON.parse(answer.body);
  expect(problem).toMatchObject({ status: 401, type: "urn:evse-ops:problem:invalid-signature" });
  expect(answer.body).not.toContain("csub01HSH04KDEWF6Z4DB2J77J74K5");
  expect(queued).toEqual([]);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the webhook receiver", () => {
  it("queues a verified webhook with its svix-id and answers 200", async () => {
    const { post, queued, verdicts } = world();
    const answer = await post(signed());
    expect(answer.statusCode).toBe(200);
    expect(queued).toEqual([{ messageId: ID, receivedAt: NOW, body: JSON.parse(BODY) }]);
    expect(verdicts).toEqual(["verified"]);
  });

  it.each(["svix-id", "svix-timestamp", "svix-signature"])(
    "refuses a request without %s",
    async (header) => {
      const { post, queued, secretReads } = world();
      const headers: Record<string, string> = signed();
      delete headers[header];
      await expectUnverified(await post(headers), queued);
      // Refused before the secret is read: unsigned floods cost no Secrets Manager call.
      expect(secretReads.count).toBe(0);
    },
  );

  it("refuses a bad signature, and one made with a secret not in force", async () => {
    const { post, queued } = world();
    const headers = signed();
    const tampered = `v1,${Buffer.from("not the signature at all, 32 by").toString("base64")}`;
    await expectUnverified(await post({ ...headers, "svix-signature": tampered }), queued);
    await expectUnverified(await post(signed({ secret: FOREIGN })), queued);
  });

  it("refuses a timestamp 5 minutes and 1 second old, or ahead, and accepts one 5 minutes old", async () => {
    const { post, queued } = world();
    await expectUnverified(await post(signed({ at: NOW - 301_000 })), queued);
    await expectUnverified(await post(signed({ at: NOW + 301_000 })), queued);
    // Signed in time, delivered too late: the same request a while later is refused.
    const headers = signed();
    vi.setSystemTime(NOW + 301_000);
    await expectUnverified(await post(headers), queued);
    vi.setSystemTime(NOW);
    expect((await post(signed({ at: NOW - 300_000 }))).statusCode).toBe(200);
  });

  it("accepts one valid signature among several v1 entries (a key rotation)", async () => {
    const { post, queued } = world();
    const valid = signed()["svix-signature"];
    const other = signed({ secret: FOREIGN })["svix-signature"];
    const headers = { ...signed(), "svix-signature": `${other} v2,abc ${valid} v1,Zm9v` };
    expect((await post(headers)).statusCode).toBe(200);
    expect(queued).toHaveLength(1);
  });

  it("accepts the previous secret while a rotation keeps it in force, and not after", async () => {
    const during = world([CURRENT, PREVIOUS]);
    expect((await during.post(signed({ secret: PREVIOUS }))).statusCode).toBe(200);
    const after = world([CURRENT]);
    await expectUnverified(await after.post(signed({ secret: PREVIOUS })), after.queued);
  });

  it("refuses a body that was parsed and serialised again: the signature covers the raw bytes", async () => {
    const { post, queued } = world();
    const reserialised = JSON.stringify(JSON.parse(BODY), null, 1);
    await expectUnverified(await post(signed(), reserialised), queued);
    const { data, ...envelope } = JSON.parse(BODY);
    const reordered = JSON.stringify({ data, ...envelope });
    expect(reordered).not.toBe(BODY);
    await expectUnverified(await post(signed(), reordered), queued);
  });

  it("refuses a body over the limit with 413 before looking at it, and other methods with 405", async () => {
    const { post, queued, receive, verdicts } = world();
    const large = JSON.stringify({ padding: "x".repeat(5000) });
    const answer = await post(signed({ body: large }), large);
    expect(answer.statusCode).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({
      type: "urn:evse-ops:problem:payload-too-large",
      status: 413,
    });
    const get = await receive(proxyEvent({ method: "GET", path: WEBHOOK_PATH }));
    expect(get.statusCode).toBe(405);
    expect(get.headers?.["Content-Type"]).toBe("application/problem+json");
    expect(queued).toEqual([]);
    expect(verdicts).toEqual(["too-large", "rejected"]);
  });

  it("answers 503 when the secrets or the queue cannot be reached, so Svix delivers again", async () => {
    const clock = new ManualClock(NOW);
    const unreachable = async () => {
      throw new Error("secret read failed: whsec_would-never-be-quoted");
    };
    const receive = createWebhookReceiver(
      {
        verifier: new SvixSignatureVerifier(silentLogger),
        secrets: { read: unreachable },
        queue: { enqueue: unreachable },
        clock,
        logger: silentLogger,
      },
      { maxBodyBytes: 4096 },
    );
    const answer = await receive(
      proxyEvent({
        method: "POST",
        path: WEBHOOK_PATH,
        headers: Object.entries(signed()),
        body: BODY,
      }),
    );
    expect(answer.statusCode).toBe(503);
    expect(answer.headers?.["Content-Type"]).toBe("application/problem+json");
    expect(answer.body).not.toContain("whsec_");
  });
});
