import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proxyEvent } from "../../local/api-gateway-event.js";

/** The environment each webhook Lambda gets from the stack (infra/constructs/webhooks.ts). */
const ENV = {
  AWS_REGION: "eu-west-2",
  TABLE_NAME: "evse-ops-test",
  EVENT_BUS_NAME: "evse-ops-test",
  EVENERGY_API_URL: "https://api.ev.energy/v2",
  EVENERGY_SECRET_ID: "evse-ops/test/read",
  WEBHOOK_BUDGET_SHARE: "0.1",
  WEBHOOK_SECRET_ID: "evse-ops/test/webhook-signing",
  WEBHOOK_QUEUE_URL: "https://sqs.eu-west-2.amazonaws.com/111111111111/webhooks",
  POWERTOOLS_METRICS_DISABLED: "true",
};
const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const [name, value] of Object.entries(ENV)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});
afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const context = {
  functionName: "test",
  functionVersion: "1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-2:111111111111:function:test",
  memoryLimitInMB: "512",
  awsRequestId: "req-1",
  logGroupName: "g",
  logStreamName: "s",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

describe("the webhook Lambda handlers", () => {
  it("build from their environment and refuse what needs no AWS call to refuse", async () => {
    const receiver = await import("../../functions/handlers/webhook-receiver.js");
    const unsigned = await receiver.handler(
      proxyEvent({ method: "POST", path: "/webhooks/ev-energy", body: "{}" }),
      context,
    );
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.headers?.["Content-Type"]).toBe("application/problem+json");
    const tooLarge = await receiver.handler(
      proxyEvent({ method: "POST", path: "/webhooks/ev-energy", body: "x".repeat(70_000) }),
      context,
    );
    expect(tooLarge.statusCode).toBe(413);

    const worker = await import("../../functions/handlers/webhook-worker.js");
    const record = {
      messageId: "m-1",
      receiptHandle: "r",
      body: "not json",
      attributes: { ApproximateReceiveCount: "1" },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:eu-west-2:111111111111:webhooks",
      awsRegion: "eu-west-2",
    } as unknown as SQSRecord;
    // Not a queued webhook: dropped (logged), since a retry could not help.
    const event: SQSEvent = { Records: [record] };
    expect(await worker.handler(event, context)).toEqual({ batchItemFailures: [] });
  });
});
