import {
  DynamoWebhookClaims,
  DynamoWebhookLedger,
} from "../../functions/adapters/dynamodb/webhook-store.js";
import { loadWebhookWorkerEnvironment } from "../../functions/config.js";
import type { ChangeEvent } from "../../functions/core/device-state.js";
import type { QueuedWebhook, WebhookLedgerStore } from "../../functions/core/webhooks/ports.js";
import type { DeviceStore, EvEnergyApi, EventPublisher, Logger } from "../../functions/ports.js";
import { createWebhookWorker } from "../../functions/webhook-runtime.js";
import { seededRandom } from "../../local/manual-clock.js";
import { defaultClientSecrets } from "../../local/simulator/index.js";
import type { useDynalite } from "./dynamo.js";
import { type PollHarnessOptions, silentLogger, startPollHarness } from "./poll-harness.js";

export interface WebhookHarnessOptions extends PollHarnessOptions {
  /** The worker's environment beyond the table, bus and simulator (e.g. its share). */
  workerEnv?: Record<string, string>;
  wrapWorkerDevices?: (store: DeviceStore) => DeviceStore;
  wrapWorkerApi?: (api: EvEnergyApi) => EvEnergyApi;
  wrapLedger?: (store: WebhookLedgerStore) => WebhookLedgerStore;
  workerLogger?: Logger;
  /** Where the worker publishes; default the poll harness's recording publisher (one bus). */
  workerPublisher?: EventPublisher<ChangeEvent>;
}

/**
 * The poll harness (simulated ev.energy and embedded DynamoDB over real sockets, one manual
 * clock) plus a webhook worker on the same table, clock and bus, as a deployment runs them.
 */
export async function startWebhookHarness(
  dynamo: ReturnType<typeof useDynalite>,
  options: WebhookHarnessOptions = {},
) {
  const share = options.workerEnv?.WEBHOOK_BUDGET_SHARE ?? "0.1";
  const poll = await startPollHarness(dynamo, {
    ...options,
    env: { WEBHOOK_BUDGET_SHARE: share, ...options.env },
  });
  const config = loadWebhookWorkerEnvironment({
    TABLE_NAME: poll.tableName,
    EVENT_BUS_NAME: "test-bus",
    EVENERGY_SECRET_ID: "test",
    EVENERGY_API_URL: poll.sim.apiBaseUrl,
    EVENERGY_TOKEN_URL: poll.sim.tokenUrl,
    WEBHOOK_BUDGET_SHARE: share,
    ...options.env,
    ...options.workerEnv,
  });
  const coldStart = () =>
    createWebhookWorker({
      config,
      secrets: defaultClientSecrets(),
      documents: dynamo.documents,
      publisher: options.workerPublisher ?? poll.publisher,
      clock: poll.clock,
      random: seededRandom(11),
      logger: options.workerLogger ?? silentLogger,
      ...(options.wrapWorkerDevices ? { wrapDevices: options.wrapWorkerDevices } : {}),
      ...(options.wrapWorkerApi ? { wrapApi: options.wrapWorkerApi } : {}),
      ...(options.wrapLedger ? { wrapLedger: options.wrapLedger } : {}),
    });
  let worker = coldStart();
  let deliveries = 0;
  return {
    ...poll,
    claims: new DynamoWebhookClaims(dynamo.documents, poll.tableName, poll.clock),
    /** Hands one queued webhook to the worker; `coldStart` first builds a new worker. */
    deliver(message: QueuedWebhook, opts: { coldStart?: boolean } = {}) {
      deliveries += 1;
      if (opts.coldStart) worker = coldStart();
      return worker.handle(message);
    },
    get deliveries() {
      return deliveries;
    },
    /** Requests the current worker sent to ev.energy (token exchanges included). */
    workerRequests() {
      return worker.requestsSent();
    },
    ledger: new DynamoWebhookLedger(dynamo.documents, poll.tableName),
    /** Requests for one EVSE (the webhook refreshes) the simulator answered, with their times. */
    refreshRequests() {
      return poll.sim.requestLog().filter((entry) => entry.route === "GET /v2/evses/{id}");
    },
  };
}

let messages = 0;

/** A new Svix-style message id, `msg_` and 27 digits. */
export function nextMessageId(): string {
  messages += 1;
  return `msg_${messages.toString().padStart(27, "0")}`;
}

/** A queued `charging_sub_session.*` webhook for `evseId` (null: the sub-session names none). */
export function subSessionWebhook(
  type: "created" | "ended",
  evseId: string | null,
  at: { start: number; end?: number; receivedAt: number },
  messageId = nextMessageId(),
): QueuedWebhook {
  const csub = `csub${messageId
    .replace(/[^0-9]/g, "")
    .padStart(26, "0")
    .slice(-26)}`;
  return {
    messageId,
    receivedAt: at.receivedAt,
    body: {
      type: `charging_sub_session.${type}`,
      timestamp: new Date(at.end ?? at.start).toISOString(),
      data: {
        id: csub,
        url: `https://api.ev.energy/v2/charging_sub_sessions/${csub}`,
        start: new Date(at.start).toISOString(),
        end: at.end === undefined ? null : new Date(at.end).toISOString(),
        mode: "SMART",
        energy_delivered_watt_hours: 0,
        evse: evseId === null ? null : `https://api.ev.energy/v2/evses/${evseId}`,
      },
    },
  };
}
