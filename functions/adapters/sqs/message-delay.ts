import {
  ChangeMessageVisibilityCommand,
  SQSClient,
  type SQSClientConfig,
} from "@aws-sdk/client-sqs";

/** The part of SQSClient used here; tests hand in a fake through it. */
export interface ChangeVisibilityClient {
  send(command: ChangeMessageVisibilityCommand): Promise<unknown>;
}

/**
 * The SQS client for `SqsMessageDelay`. The queue URL is derived from the event's queue ARN;
 * with `useQueueUrlAsEndpoint` on (the SDK's default) that URL would also become the endpoint,
 * ignoring `AWS_ENDPOINT_URL(_SQS)` and any configured endpoint, so a call meant for an
 * emulator or a VPC endpoint would go to the public one. Off, the endpoint is resolved as for
 * every other client, and the URL only names the queue.
 */
export function sqsClient(config: SQSClientConfig = {}): SQSClient {
  return new SQSClient({ ...config, useQueueUrlAsEndpoint: false });
}

/** The longest SQS lets a received message stay hidden. */
const MAX_VISIBILITY_SECONDS = 12 * 3600;

/**
 * Puts a received message back on its queue after exactly `delayMs` (to the second), instead
 * of after the queue's visibility timeout: a retry then honours a Retry-After or a backoff as
 * computed, neither earlier nor minutes later.
 */
export class SqsMessageDelay {
  constructor(private readonly client: ChangeVisibilityClient) {}

  async delay(queueArn: string, receiptHandle: string, delayMs: number): Promise<void> {
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrlFromArn(queueArn),
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }
}

/** `arn:aws:sqs:eu-west-2:123456789012:name` → `https://sqs.eu-west-2.amazonaws.com/123456789012/name`. */
export function queueUrlFromArn(arn: string): string {
  const [prefix, partition, service, region, account, name] = arn.split(":");
  if (prefix !== "arn" || service !== "sqs" || !region || !account || !name) {
    throw new Error(`not an SQS queue ARN: ${arn}`);
  }
  const domain = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}
