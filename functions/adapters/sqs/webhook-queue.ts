import { SendMessageCommand } from "@aws-sdk/client-sqs";
import type { QueuedWebhook, WebhookQueue } from "../../core/webhooks/ports.js";

/** The part of SQSClient the queue uses; tests hand in a fake through it. */
export interface SendMessageClient {
  send(command: SendMessageCommand): Promise<unknown>;
}

/** The worker's queue: one message per verified webhook, its body the queued webhook as JSON. */
export class SqsWebhookQueue implements WebhookQueue {
  constructor(
    private readonly client: SendMessageClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(webhook: QueuedWebhook): Promise<void> {
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(webhook) }),
    );
  }
}
