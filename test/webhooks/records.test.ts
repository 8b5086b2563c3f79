import { describe, expect, it } from "vitest";
import type { WebhookResult } from "../../functions/core/webhooks/handle-webhook.js";
import type { QueuedWebhook } from "../../functions/core/webhooks/ports.js";
import { processWebhookRecords, type WebhookRecord } from "../../functions/webhook-runtime.js";
import { silentLogger } from "../support/poll-harness.js";

const ARN = "arn:aws:sqs:eu-west-2:111111111111:evse-ops-dev-webhooks";

function record(id: string, body: unknown): WebhookRecord {
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    eventSourceARN: ARN,
  };
}

const queued = (messageId: string): QueuedWebhook => ({ messageId, receivedAt: 1, body: {} });

describe("the worker's batch of queue records", () => {
  it("redelivers retries at exactly their delay, failures after the visibility timeout, and drops what is not a webhook", async () => {
    const results: Record<string, WebhookResult | Error> = {
      done: { outcome: "refreshed", events: [] },
      dup: { outcome: "duplicate", events: [] },
      later: { outcome: "retry-later", delayMs: 60_000, events: [] },
      unpublished: { outcome: "publish-failed", events: [] },
      broken: new Error("DynamoDB unavailable"),
    };
    const delays: unknown[] = [];
    const handled: string[] = [];
    const redeliver = await processWebhookRecords(
      [
        ...Object.keys(results).map((id) => record(`sqs-${id}`, queued(id))),
        record("sqs-garbage", "not json"),
        record("sqs-no-id", { receivedAt: 1, body: {} }),
      ],
      {
        worker: {
          handle: async (message) => {
            handled.push(message.messageId);
            const result = results[message.messageId];
            if (result instanceof Error) throw result;
            if (!result) throw new Error("unexpected message");
            return result;
          },
        },
        delay: async (...args) => {
          delays.push(args);
        },
        logger: silentLogger,
      },
    );
    expect(handled).toEqual(Object.keys(results));
    expect(redeliver).toEqual(["sqs-later", "sqs-unpublished", "sqs-broken"]);
    expect(delays).toEqual([[ARN, "rh-sqs-later", 60_000]]);
  });
});
