/**
 * Composition of the webhook worker: the adapters it needs, built once per cold start (Lambda)
 * or per process (sandbox, tests), a `handle` that runs the use case for one queued webhook, and
 * the SQS batch loop the Lambda handler calls.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoDeviceStore } from "./adapters/dynamodb/device-store.js";
import { DynamoFleetHealthStore } from "./adapters/dynamodb/fleet-health-store.js";
import { DynamoWebhookClaims, DynamoWebhookLedger } from "./adapters/dynamodb/webhook-store.js";
import { countedEvEnergyClient } from "./adapters/ev-energy/counted-client.js";
import type { WebhookWorkerEnvironment } from "./config.js";
import type { ChangeEvent } from "./core/device-state.js";
import { FleetHealth } from "./core/fleet-health.js";
import { CLAIM_RETENTION_MS } from "./core/webhooks/claim.js";
import {
  handleWebhook,
  type WebhookResult,
  type WebhookSettings,
} from "./core/webhooks/handle-webhook.js";
import type { QueuedWebhook, WebhookLedgerStore } from "./core/webhooks/ports.js";
import type {
  Clock,
  DeviceStore,
  EvEnergyApi,
  EventPublisher,
  Logger,
  Random,
  SecretSource,
} from "./ports.js";

export interface WebhookWorkerParts {
  config: WebhookWorkerEnvironment;
  secrets: SecretSource;
  documents: DynamoDBDocumentClient;
  publisher: EventPublisher<ChangeEvent>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Decorates the device store (tests race or crash writes through it). */
  wrapDevices?: (store: DeviceStore) => DeviceStore;
  /** Decorates the ev.energy client (tests crash or watch a refresh through it). */
  wrapApi?: (api: EvEnergyApi) => EvEnergyApi;
  /** Decorates the ledger (tests race spends through it). */
  wrapLedger?: (store: WebhookLedgerStore) => WebhookLedgerStore;
}

export function createWebhookWorker(parts: WebhookWorkerParts) {
  const { config, clock, random, logger } = parts;
  const { api, tally } = countedEvEnergyClient({
    config,
    secrets: parts.secrets,
    clock,
    random,
    logger,
    maxAttempts: 1,
  });
  const wrap = <T>(wrapper: ((value: T) => T) | undefined, value: T) =>
    wrapper ? wrapper(value) : value;
  const dependencies = {
    api: wrap(parts.wrapApi, api),
    devices: wrap(parts.wrapDevices, new DynamoDeviceStore(parts.documents, config.TABLE_NAME)),
    claims: new DynamoWebhookClaims(parts.documents, config.TABLE_NAME, clock),
    ledger: wrap(parts.wrapLedger, new DynamoWebhookLedger(parts.documents, config.TABLE_NAME)),
    publisher: parts.publisher,
    clock,
    random,
    logger,
    tokenExchanges: () => tally.tokenExchanges,
    health: new FleetHealth(
      new DynamoFleetHealthStore(parts.documents, config.TABLE_NAME, {
        historyRetentionMs: config.HISTORY_RETENTION_DAYS * 86_400_000,
      }),
      // Only the records beside a device write; the fleet-wide alert stays the poll's.
      { stalenessMs: config.STALENESS_MINUTES * 60_000, degradedShare: 1 },
    ),
  };
  const settings: WebhookSettings = {
    stalenessMs: config.STALENESS_MINUTES * 60_000,
    chargeRateThresholdWatts: config.CHARGE_RATE_THRESHOLD_WATTS,
    heartbeatMs: config.HEARTBEAT_MINUTES * 60_000,
    leaseMs: config.WEBHOOK_CLAIM_LEASE_SECONDS * 1000,
    retentionMs: CLAIM_RETENTION_MS,
    webhookShare: config.WEBHOOK_BUDGET_SHARE,
    defaultLimit: config.RATE_LIMIT_DEFAULT,
    // A refresh is sent within its request timeout of its record (one attempt, no retries).
    // A refresh's last request (token, GET, 401, token again, GET) may leave up to four
    // request timeouts after its spend was recorded; the window covers that too.
    sendMarginMs: 4 * config.EVENERGY_REQUEST_TIMEOUT_MS,
    retryDelayMs: config.WEBHOOK_RETRY_DELAY_SECONDS * 1000,
  };
  return {
    api,
    /** Requests this process sent to ev.energy. */
    requestsSent: () => tally.count,
    handle: (message: QueuedWebhook): Promise<WebhookResult> =>
      handleWebhook(dependencies, settings, message),
  };
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;

/** One SQS record as the batch loop needs it. */
export interface WebhookRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  eventSourceARN: string;
}

/**
 * Runs each record and returns the SQS message ids to redeliver: a retry (its next delivery
 * moved to exactly its delay first), a publish failure or contention (after the visibility
 * timeout, when the claim's lease has run out), and any error. A record that is not a queued
 * webhook is logged and dropped: retrying it cannot help.
 */
export async function processWebhookRecords(
  records: readonly WebhookRecord[],
  deps: {
    worker: Pick<WebhookWorker, "handle">;
    delay: (queueArn: string, receiptHandle: string, delayMs: number) => Promise<void>;
    logger: Logger;
    onResult?: (result: WebhookResult, message: QueuedWebhook) => void;
  },
): Promise<string[]> {
  // The records of a batch are different messages: they run at once (each claims its own id,
  // and two naming one device meet at its versioned write), so a batch takes one refresh's time.
  const verdicts = await Promise.all(
    records.map(async (record): Promise<boolean> => {
      const message = queuedWebhookOf(record.body);
      if (!message) {
        deps.logger.error("queue record is not a queued webhook; dropped", {
          sqsMessageId: record.messageId,
        });
        return false;
      }
      try {
        const result = await deps.worker.handle(message);
        deps.onResult?.(result, message);
        if (result.outcome === "retry-later") {
          await deps.delay(record.eventSourceARN, record.receiptHandle, result.delayMs);
          return true;
        }
        return result.outcome === "publish-failed" || result.outcome === "contended";
      } catch (error) {
        deps.logger.error("webhook not processed; it will be redelivered", {
          messageId: message.messageId,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        return true;
      }
    }),
  );
  return records.filter((_, i) => verdicts[i]).map((record) => record.messageId);
}

function queuedWebhookOf(body: string): QueuedWebhook | undefined {
  try {
    const value = JSON.parse(body) as Partial<QueuedWebhook>;
    if (typeof value.messageId !== "string" || value.messageId === "") return undefined;
    if (typeof value.receivedAt !== "number") return undefined;
    return { messageId: value.messageId, receivedAt: value.receivedAt, body: value.body };
  } catch {
    return undefined;
  }
}
