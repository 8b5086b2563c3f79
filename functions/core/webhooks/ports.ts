/**
 * The interfaces the webhook path needs beyond the shared ones in functions/ports.ts. DynamoDB
 * adapters implement them for Lambda and the sandbox; tests use the same adapters over the
 * embedded DynamoDB.
 */

import type { WebhookLedger } from "./budget.js";
import type { Claim } from "./claim.js";

/** One claim per webhook message id (`svix-id`), changed only by conditional writes. */
export interface WebhookClaims {
  get(messageId: string): Promise<Claim | undefined>;
  /**
   * Writes `next` if the stored claim's revision is still `expectedRevision` (null: no claim, or
   * only an expired one); false when another delivery changed it first.
   */
  put(messageId: string, next: Claim, expectedRevision: number | null): Promise<boolean>;
}

/** The webhook path's request ledger: one item, changed only by conditional writes. */
export interface WebhookLedgerStore {
  read(): Promise<WebhookLedger>;
  /** Writes `next` if the stored revision is still `expectedRevision`; false otherwise. */
  write(next: WebhookLedger, expectedRevision: number): Promise<boolean>;
}

/** A verified webhook as the receiver queues it for the worker. */
export interface QueuedWebhook {
  /** `svix-id`: stable across Svix's retries of one message. */
  messageId: string;
  /** Clock time the receiver verified it. */
  receivedAt: number;
  /** The verified body, parsed. */
  body: unknown;
}

/** Where the receiver puts a verified webhook for the worker (SQS in AWS). */
export interface WebhookQueue {
  enqueue(webhook: QueuedWebhook): Promise<void>;
}
