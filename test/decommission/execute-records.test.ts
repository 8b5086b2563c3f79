import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ChangeMessageVisibilityCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import {
  queueUrlFromArn,
  SqsMessageDelay,
  sqsClient,
} from "../../functions/adapters/sqs/message-delay.js";
import type { Verdict } from "../../functions/core/decommission/execute.js";
import type { ExecutionMessage } from "../../functions/core/decommission/ports.js";
import { type ExecutionRecord, executeRecords } from "../../functions/decommission-runtime.js";
import { silentLogger } from "../support/poll-harness.js";

const QUEUE = "arn:aws:sqs:eu-west-2:111111111111:evse-ops-prod-execution";

function record(messageId: string, body: unknown): ExecutionRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    eventSourceARN: QUEUE,
    receiveCount: 1,
  };
}

/** An executor that answers each request id with a scripted verdict. */
function scriptedExecutor(verdicts: Record<string, Verdict>) {
  const seen: ExecutionMessage[] = [];
  return {
    seen,
    execute: async (message: ExecutionMessage) => {
      seen.push(message);
      const verdict = verdicts[message.requestId];
      if (!verdict) throw new Error(`unexpected ${message.requestId}`);
      return verdict;
    },
  };
}

describe("executing a batch of queue records", () => {
  it("delays a retry by exactly its verdict and asks SQS to redeliver only what is not done", async () => {
    const delays: Array<[string, string, number]> = [];
    const executor = scriptedExecutor({
      "dcr-done": { kind: "done", outcome: "completed", note: "204" },
      "dcr-retry": { kind: "retry", delayMs: 42_500, note: "429, Retry-After 43" },
    });
    const redeliver = await executeRecords(
      [
        record("m-done", { requestId: "dcr-done", token: "t" }),
        record("m-retry", { detail: { requestId: "dcr-retry", token: "t" } }),
        record("m-garbage", "not json"),
      ],
      {
        executor,
        delay: async (...args) => void delays.push(args),
        logger: silentLogger,
      },
    );
    expect(redeliver).toEqual(["m-retry", "m-garbage"]);
    expect(delays).toEqual([[QUEUE, "receipt-m-retry", 42_500]]);
    expect(executor.seen.map((message) => message.requestId)).toEqual(["dcr-done", "dcr-retry"]);
  });

  it("still redelivers a retry whose delay could not be set, and a message whose run threw", async () => {
    const executor = scriptedExecutor({
      "dcr-retry": { kind: "retry", delayMs: 1_000, note: "503" },
    });
    const redeliver = await executeRecords(
      [
        record("m-retry", { requestId: "dcr-retry", token: "t" }),
        record("m-boom", { requestId: "dcr-unknown", token: "t" }),
      ],
      {
        executor,
        delay: async () => {
          throw new Error("AccessDenied");
        },
        logger: silentLogger,
      },
    );
    expect(redeliver).toEqual(["m-retry", "m-boom"]);
  });
});

describe("SqsMessageDelay", () => {
  it("changes the message's visibility to the delay in whole seconds, within SQS's 12 hours", async () => {
    const sent: ChangeMessageVisibilityCommand[] = [];
    const delay = new SqsMessageDelay({ send: async (command) => void sent.push(command) });
    await delay.delay(QUEUE, "receipt", 42_100);
    await delay.delay(QUEUE, "receipt", 0);
    await delay.delay(QUEUE, "receipt", 48 * 3_600_000);
    expect(sent.map((command) => command.input)).toEqual([
      {
        QueueUrl: "https://sqs.eu-west-2.amazonaws.com/111111111111/evse-ops-prod-execution",
        ReceiptHandle: "receipt",
        VisibilityTimeout: 43,
      },
      expect.objectContaining({ VisibilityTimeout: 0 }),
      expect.objectContaining({ VisibilityTimeout: 43_200 }),
    ]);
    expect(sent[0]).toBeInstanceOf(ChangeMessageVisibilityCommand);
  });

  it("derives queue URLs from ARNs and refuses anything else", () => {
    expect(queueUrlFromArn("arn:aws-cn:sqs:cn-north-1:111111111111:q")).toBe(
      "https://sqs.cn-north-1.amazonaws.com.cn/111111111111/q",
    );
    expect(() => queueUrlFromArn("arn:aws:sns:eu-west-2:111111111111:topic")).toThrow(/not an SQS/);
  });
  it("sends the call to the configured SQS endpoint, not to the one the queue URL names", async () => {
    const received: Array<{ target: string | undefined; body: Record<string, unknown> }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        received.push({
          target: req.headers["x-amz-target"] as string | undefined,
          body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>,
        });
        res.writeHead(200, { "Content-Type": "application/x-amz-json-1.0" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const saved = process.env.AWS_ENDPOINT_URL;
    try {
      // An emulator or a VPC endpoint, set the way the rehearsal and operators set it.
      process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
      const client = sqsClient({
        region: "eu-west-2",
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
      });
      await new SqsMessageDelay(client).delay(QUEUE, "receipt", 2_500);
      client.destroy();
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
      server.close();
    }
    expect(received).toEqual([
      {
        target: "AmazonSQS.ChangeMessageVisibility",
        body: {
          QueueUrl: "https://sqs.eu-west-2.amazonaws.com/111111111111/evse-ops-prod-execution",
          ReceiptHandle: "receipt",
          VisibilityTimeout: 3,
        },
      },
    ]);
  });
});
