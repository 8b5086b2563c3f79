import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proxyEvent } from "../../local/api-gateway-event.js";

/** The environment each Lambda gets from the stack (see infra/constructs/decommission-api.ts). */
const ENV = {
  AWS_REGION: "eu-west-2",
  TABLE_NAME: "evse-ops-test",
  EVENT_BUS_NAME: "evse-ops-test",
  APPROVER_ROLE_ARNS: "arn:aws:iam::111111111111:role/approver",
  APPROVAL_KEY_ID: "arn:aws:kms:eu-west-2:111111111111:key/test",
  EVENERGY_API_URL: "https://api.ev.energy/v2",
  EVENERGY_WRITE_SECRET_ID: "evse-ops/test/write",
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
  memoryLimitInMB: "256",
  awsRequestId: "req-1",
  logGroupName: "g",
  logStreamName: "s",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

function sqsEvent(body: string): SQSEvent {
  const record = {
    messageId: "m-1",
    receiptHandle: "r",
    body,
    attributes: { ApproximateReceiveCount: "1" },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-2:111111111111:q",
    awsRegion: "eu-west-2",
  } as unknown as SQSRecord;
  return { Records: [record] };
}

describe("the Lambda handlers", () => {
  it("build from their environment and answer without touching AWS where nothing is to be done", async () => {
    const api = await import("../../functions/handlers/api.js");
    const notFound = await api.handler(
      proxyEvent({
        method: "GET",
        path: "/nowhere",
        callerArn: "arn:aws:sts::111111111111:assumed-role/x/alice",
      }),
      context,
    );
    expect(notFound.statusCode).toBe(404);
    expect(notFound.headers?.["Content-Type"]).toBe("application/problem+json");

    const executor = await import("../../functions/handlers/executor.js");
    // An unreadable message is reported failed, so the queue dead-letters it where it is seen.
    expect(await executor.handler(sqsEvent("not json"), context)).toEqual({
      batchItemFailures: [{ itemIdentifier: "m-1" }],
    });

    const reconciler = await import("../../functions/handlers/reconciler.js");
    // An unreadable dead letter is logged and counted, not retried.
    await expect(reconciler.deadLetterHandler(sqsEvent("not json"), context)).resolves.toEqual({
      batchItemFailures: [],
    });
  });
});
