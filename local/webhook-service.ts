/**
 * The webhook path for the sandbox: the receiver as the Lambda composes it (the signing secret
 * from the sandbox's data folder instead of Secrets Manager), a local queue in place of SQS, and
 * the worker as the Lambda composes it (two of them, as two Lambdas run), on the sandbox's
 * table, clock and feed.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SvixSignatureVerifier } from "../functions/adapters/svix/signature-verifier.js";
import type { ApiHandler } from "../functions/api/app.js";
import type { WebhookWorkerEnvironment } from "../functions/config.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import type { WebhookResult } from "../functions/core/webhooks/handle-webhook.js";
import type { QueuedWebhook, WebhookQueue } from "../functions/core/webhooks/ports.js";
import type { Clock, EventPublisher, Logger, Random, SecretSource } from "../functions/ports.js";
import { createWebhookReceiver } from "../functions/webhook-receiver.js";
import { createWebhookWorker, type WebhookWorker } from "../functions/webhook-runtime.js";

/** Like the deployed queue: a failed message comes back after this, at most this many times. */
const VISIBILITY_TIMEOUT_MS = 180_000;
const MAX_RECEIVES = 5;
/** The deployed event source's batch size: messages handed to the worker at once. */
const BATCH_SIZE = 10;
/**
 * Workers, each working on one batch at a time: the deployed event source's maximum concurrency
 * (the default of `webhooks.workerMaxConcurrency`; a test keeps the two in step).
 */
export const WORKER_CONCURRENCY = 2;

interface Held {
  message: QueuedWebhook;
  visibleAt: number;
  receives: number;
}

/**
 * SQS's part for the sandbox: a verified webhook is handed to a worker as soon as it is queued
 * (`immediate`) or when `deliverDue` runs, in batches of up to ten, each to a free worker, as
 * the deployed event source hands batches to its Lambda instances; a retry waits its delay, a
 * failure the visibility timeout, and a message received MAX_RECEIVES times is dropped
 * (logged), as the DLQ would park it.
 */
export class LocalWebhookQueue implements WebhookQueue {
  readonly #held: Held[] = [];
  readonly #free: Array<Pick<WebhookWorker, "handle">>;
  #running = 0;
  #whenIdle: Array<() => void> = [];

  constructor(
    /** One per Lambda instance the deployed event source may run at once. */
    workers: ReadonlyArray<Pick<WebhookWorker, "handle">>,
    private readonly options: {
      clock: Clock;
      logger: Logger;
      immediate: boolean;
      onResult?: (result: WebhookResult, message: QueuedWebhook) => void;
    },
  ) {
    this.#free = [...workers];
  }

  async enqueue(message: QueuedWebhook): Promise<void> {
    this.#held.push({ message, visibleAt: this.options.clock.now(), receives: 0 });
    // After the receiver has answered: the worker's work is never on the request's path.
    if (this.options.immediate) setImmediate(() => void this.deliverDue());
  }

  /** Hands every visible message to a worker; resolves once none is visible or in work. */
  deliverDue(): Promise<void> {
    this.#start();
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenIdle.push(resolve));
  }

  get waiting(): number {
    return this.#held.length;
  }

  /** Starts a batch of the visible messages on each free worker. */
  #start(): void {
    for (;;) {
      const now = this.options.clock.now();
      const batch = this.#held.filter((held) => held.visibleAt <= now).slice(0, BATCH_SIZE);
      const worker = batch.length > 0 ? this.#free.pop() : undefined;
      if (worker === undefined) break;
      for (const held of batch) held.visibleAt = Number.POSITIVE_INFINITY;
      this.#running += 1;
      void Promise.all(batch.map((held) => this.#deliverOne(worker, held, now))).finally(() => {
        this.#free.push(worker);
        this.#running -= 1;
        this.#start();
        if (this.#running > 0) return;
        const waiting = this.#whenIdle;
        this.#whenIdle = [];
        for (const resolve of waiting) resolve();
      });
    }
  }

  async #deliverOne(worker: Pick<WebhookWorker, "handle">, held: Held, now: number): Promise<void> {
    const { logger } = this.options;
    held.receives += 1;
    let result: WebhookResult | undefined;
    try {
      result = await worker.handle(held.message);
      this.options.onResult?.(result, held.message);
    } catch (error) {
      logger.error("webhook not processed; it will be redelivered", {
        messageId: held.message.messageId,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
    const done =
      result !== undefined &&
      result.outcome !== "retry-later" &&
      result.outcome !== "publish-failed" &&
      result.outcome !== "contended";
    if (done || held.receives >= MAX_RECEIVES) {
      this.#held.splice(this.#held.indexOf(held), 1);
      if (!done) logger.error("webhook dead-lettered", { messageId: held.message.messageId });
    } else {
      held.visibleAt =
        now + (result?.outcome === "retry-later" ? result.delayMs : VISIBILITY_TIMEOUT_MS);
    }
  }
}

export interface WebhookServiceOptions {
  config: WebhookWorkerEnvironment;
  secrets: SecretSource;
  documents: DynamoDBDocumentClient;
  publisher: EventPublisher<ChangeEvent>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The endpoint's `whsec_` signing secret. */
  signingSecret: string;
  /** Hand each verified webhook to the worker at once (the sandbox); off: `queue.deliverDue()`. */
  immediate: boolean;
  onResult?: (result: WebhookResult, message: QueuedWebhook) => void;
}

export function startWebhookService(options: WebhookServiceOptions) {
  const { config, clock, logger } = options;
  // One worker per Lambda instance the event source may run: each with its own clients, token
  // and ledger committer, racing the others only through the table, as deployed.
  const workers = Array.from({ length: WORKER_CONCURRENCY }, () =>
    createWebhookWorker({
      config,
      secrets: options.secrets,
      documents: options.documents,
      publisher: options.publisher,
      clock,
      random: options.random,
      logger,
    }),
  );
  const queue = new LocalWebhookQueue(workers, {
    clock,
    logger,
    immediate: options.immediate,
    ...(options.onResult ? { onResult: options.onResult } : {}),
  });
  const receive: ApiHandler = createWebhookReceiver(
    {
      verifier: new SvixSignatureVerifier(logger),
      secrets: { read: async () => [options.signingSecret] },
      queue,
      clock,
      logger,
    },
    { maxBodyBytes: 65_536 },
  );
  return { receive, queue };
}
