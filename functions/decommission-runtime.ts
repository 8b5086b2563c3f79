/**
 * Composition of the decommission functions: the API, the executor and the reconciler, each
 * built once per cold start (Lambda) or per process (sandbox, tests) from the same parts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoDecommissionStore } from "./adapters/dynamodb/decommission-store.js";
import { DynamoDeviceDirectory } from "./adapters/dynamodb/device-directory.js";
import { DynamoDeviceStore } from "./adapters/dynamodb/device-store.js";
import { DynamoFleetReader } from "./adapters/dynamodb/fleet-health-reader.js";
import { DynamoIdempotencyStore } from "./adapters/dynamodb/idempotency-store.js";
import { DynamoPauseSwitch } from "./adapters/dynamodb/pause-switch.js";
import { EvEnergyClient } from "./adapters/ev-energy/client.js";
import { AccessTokenProvider, defaultTokenUrl } from "./adapters/ev-energy/credentials.js";
import { EventBridgePublisher } from "./adapters/eventbridge/event-publisher.js";
import { KmsApprovalMac, type MacClient } from "./adapters/kms/approval-mac.js";
import { SecretsManagerSecretSource } from "./adapters/secrets/secrets-manager-secret-source.js";
import { type ApiHandler, createApi } from "./api/app.js";
import {
  ConfigurationError,
  type DecommissionApiEnvironment,
  type DecommissionCommonEnvironment,
  type DecommissionExecutorEnvironment,
  type DecommissionReconcilerEnvironment,
} from "./config.js";
import type { ApprovalSigner, ApprovalVerifier } from "./core/decommission/approval.js";
import { compileApproverPatterns } from "./core/decommission/approvers.js";
import {
  type DeadLetterOutcome,
  failDeadLettered,
  failUnexecuted,
} from "./core/decommission/dead-letters.js";
import {
  type ExecutorSettings,
  executeMessage,
  refuseDisabled,
  type Verdict,
} from "./core/decommission/execute.js";
import type { DecommissionEvent } from "./core/decommission/model.js";
import { EXECUTION_REQUESTED, newRequestId } from "./core/decommission/model.js";
import type { ExecutionMessage, ExecutionQueue, PauseSwitch } from "./core/decommission/ports.js";
import {
  type ReconcilerSettings,
  type ReconcileSummary,
  reconcile,
} from "./core/decommission/reconcile.js";
import { uuidFromText } from "./core/uuid.js";
import { systemClock, systemRandom } from "./lib/clock.js";
import type {
  BusEvent,
  Clock,
  EvEnergyApi,
  EventPublisher,
  Logger,
  Random,
  SecretSource,
} from "./ports.js";

export interface DecommissionParts {
  documents: DynamoDBDocumentClient;
  tableName: string;
  publisher: EventPublisher<DecommissionEvent>;
  queue: ExecutionQueue;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Default: the table item, read through a cache of `pauseCacheMs`. */
  pause?: PauseSwitch;
  pauseCacheMs?: number;
  startPaused?: boolean;
}

function common(parts: DecommissionParts) {
  const store = new DynamoDecommissionStore(parts.documents, parts.tableName);
  const pause =
    parts.pause ??
    new DynamoPauseSwitch(parts.documents, parts.tableName, {
      clock: parts.clock,
      cacheMs: parts.pauseCacheMs ?? 15_000,
      pausedWhenUnset: parts.startPaused ?? false,
    });
  return {
    store,
    devices: new DynamoDeviceStore(parts.documents, parts.tableName),
    publisher: parts.publisher,
    clock: parts.clock,
    logger: parts.logger,
    pause,
    newToken: () => randomUUID(),
    newRequestId: () => newRequestId(parts.clock.now(), randomBytes(16)),
  };
}

export interface ApiSettings {
  approverPatterns: readonly string[];
  pendingExpiryMs: number;
  idempotencyRetentionMs: number;
  /** Whether approvals will be carried out in this stage; default true. */
  executionEnabled?: boolean;
}

/** The API's settings from its environment (config.ts). */
export function apiSettingsFrom(config: DecommissionApiEnvironment): ApiSettings {
  return {
    approverPatterns: config.APPROVER_ROLE_ARNS,
    pendingExpiryMs: config.PENDING_EXPIRY_DAYS * 86_400_000,
    idempotencyRetentionMs: config.IDEMPOTENCY_RETENTION_HOURS * 3_600_000,
    executionEnabled: config.EXECUTION_ENABLED,
  };
}

/** The API's request handler (API Gateway proxy event in, proxy result out). */
export function createDecommissionApi(
  parts: DecommissionParts & { signer: ApprovalSigner },
  settings: ApiSettings,
): ApiHandler {
  const base = common(parts);
  let approvers: ReturnType<typeof compileApproverPatterns>;
  try {
    approvers = compileApproverPatterns(settings.approverPatterns);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: APPROVER_ROLE_ARNS ${error instanceof Error ? error.message : ""}`,
    );
  }
  return createApi({
    requests: { ...base, queue: parts.queue, signer: parts.signer },
    settings: {
      approvers,
      pendingExpiryMs: settings.pendingExpiryMs,
      executionEnabled: settings.executionEnabled ?? true,
    },
    idempotency: {
      store: new DynamoIdempotencyStore(parts.documents, parts.tableName),
      // A creation is a handful of DynamoDB calls; one still "in flight" after this died.
      settings: { retentionMs: settings.idempotencyRetentionMs, inFlightMs: 30_000 },
    },
    directory: new DynamoDeviceDirectory(parts.documents, parts.tableName),
    fleet: new DynamoFleetReader(parts.documents, parts.tableName),
    logger: parts.logger,
  });
}

export interface WriteClientSettings {
  apiUrl: string;
  tokenUrl?: string | undefined;
  scope: string;
  requestTimeoutMs: number;
  secrets: SecretSource;
  clock: Clock;
  random: Random;
  logger: Logger;
  fetch?: typeof fetch;
}

/**
 * The executor's own ev.energy client: the write-scoped credential, one attempt per call (the
 * executor owns retries; a 401 still refreshes the token once).
 */
export function createWriteClient(settings: WriteClientSettings): EvEnergyClient {
  const tokens = new AccessTokenProvider({
    secrets: settings.secrets,
    clock: settings.clock,
    defaultTokenUrl: settings.tokenUrl ?? defaultTokenUrl(settings.apiUrl),
    scope: settings.scope,
    logger: settings.logger,
    ...(settings.fetch ? { fetch: settings.fetch } : {}),
  });
  return new EvEnergyClient({
    baseUrl: settings.apiUrl,
    tokens,
    clock: settings.clock,
    random: settings.random,
    logger: settings.logger,
    requestTimeoutMs: settings.requestTimeoutMs,
    maxAttempts: 1,
    ...(settings.fetch ? { fetch: settings.fetch } : {}),
  });
}

/** The executor's write client and retry settings from its environment (config.ts). */
export function executorSettingsFrom(config: DecommissionExecutorEnvironment): {
  client: Pick<WriteClientSettings, "apiUrl" | "tokenUrl" | "scope" | "requestTimeoutMs">;
  execution: ExecutorSettings;
} {
  return {
    client: {
      apiUrl: config.EVENERGY_API_URL,
      tokenUrl: config.EVENERGY_TOKEN_URL,
      scope: config.EVENERGY_WRITE_SCOPE,
      requestTimeoutMs: config.EVENERGY_REQUEST_TIMEOUT_SECONDS * 1000,
    },
    execution: {
      maxAttempts: config.EXECUTION_MAX_ATTEMPTS,
      baseBackoffMs: config.EXECUTION_BACKOFF_SECONDS * 1000,
      maxBackoffMs: config.EXECUTION_MAX_BACKOFF_SECONDS * 1000,
      leaseMs: config.EXECUTION_LEASE_SECONDS * 1000,
    },
  };
}

export interface Executor {
  execute(message: ExecutionMessage, receiveCount: number): Promise<Verdict>;
}

export function createExecutor(
  parts: DecommissionParts & {
    api: Pick<EvEnergyApi, "getEvse" | "deleteEvse">;
    verifier: ApprovalVerifier;
  },
  settings: ExecutorSettings,
): Executor {
  const deps = { ...common(parts), api: parts.api, verifier: parts.verifier, random: parts.random };
  return {
    execute: (message, receiveCount) => executeMessage(deps, settings, message, receiveCount),
  };
}

/**
 * The executor of a stage whose execution is off (`decommission.executor.enabled` false): it
 * fails every approved request without a DELETE, saying why (see `refuseDisabled`). It is built
 * without an ev.energy client or a credential, and infra grants it no secret.
 */
export function createDisabledExecutor(
  parts: DecommissionParts & { verifier: ApprovalVerifier },
): Executor {
  const deps = { ...common(parts), verifier: parts.verifier };
  return { execute: (message) => refuseDisabled(deps, message) };
}

/** What the executor Lambda needs per SQS record; the handler supplies the AWS parts. */
export interface ExecutionRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  eventSourceARN: string;
  receiveCount: number;
}

/**
 * Runs a batch of execution messages and returns the ids SQS must redeliver.
 * 1. An unreadable message fails on purpose: it ends in the dead-letter queue, where it is seen.
 * 2. A retry verdict first moves the message's next delivery to exactly its delay (Retry-After
 *    or backoff), then reports the record failed so SQS redelivers it then.
 * 3. A message whose delay could not be set is still reported: it comes back after the queue's
 *    visibility timeout, later than asked but never lost.
 */
export async function executeRecords(
  records: readonly ExecutionRecord[],
  deps: {
    executor: Executor;
    delay: (queueArn: string, receiptHandle: string, delayMs: number) => Promise<void>;
    logger: Logger;
    onVerdict?: (verdict: Verdict | undefined) => void;
  },
): Promise<string[]> {
  const redeliver: string[] = [];
  for (const record of records) {
    try {
      const message = parseExecutionMessage(record.body);
      const verdict = message
        ? await deps.executor.execute(message, record.receiveCount)
        : undefined;
      deps.logger.info("execution message handled", { messageId: record.messageId, verdict });
      deps.onVerdict?.(verdict);
      if (verdict?.kind === "done") continue;
      if (verdict?.kind === "retry") {
        await deps
          .delay(record.eventSourceARN, record.receiptHandle, verdict.delayMs)
          .catch((error: unknown) =>
            deps.logger.warn("could not delay the retry; the queue's visibility timeout applies", {
              messageId: record.messageId,
              error: error instanceof Error ? error.name : String(error),
            }),
          );
      }
      redeliver.push(record.messageId);
    } catch (error) {
      deps.logger.error("execution message failed", { messageId: record.messageId, error });
      redeliver.push(record.messageId);
    }
  }
  return redeliver;
}

export interface Reconciler {
  run(): Promise<ReconcileSummary>;
  /** A message the queue dead-lettered: its request fails (unless it ended, or see execute.ts). */
  deadLetter(message: ExecutionMessage, receiveCount?: number): Promise<DeadLetterOutcome>;
  /** Fails a message's request without executing it, for `reason` (see `failUnexecuted`). */
  refuse(message: ExecutionMessage, reason: string): Promise<DeadLetterOutcome>;
}

/** The reconciler's settings from its environment (config.ts). */
export function reconcilerSettingsFrom(
  config: DecommissionReconcilerEnvironment,
): ReconcilerSettings {
  return {
    staleAfterMs: config.RECONCILE_STALE_MINUTES * 60_000,
    republishWindowMs: config.REPUBLISH_WINDOW_HOURS * 3_600_000,
  };
}

export function createReconciler(
  parts: DecommissionParts,
  settings: ReconcilerSettings,
): Reconciler {
  const deps = { ...common(parts), queue: parts.queue };
  return {
    run: () => reconcile(deps, settings),
    deadLetter: (message, receiveCount) => failDeadLettered(deps, message, receiveCount),
    refuse: (message, reason) => failUnexecuted(deps, message, () => reason),
  };
}

export interface ExecutionRequestedEvent extends BusEvent, ExecutionMessage {}

/**
 * The execution queue as seen from AWS: an `EVSE Decommission Execution Requested` event on the
 * bus, which a rule delivers to the executor's SQS queue (see infra/constructs/decommission-api.ts).
 * The API and the reconciler need no SQS permissions, and the bus archive records every enqueue.
 */
export class BusExecutionQueue implements ExecutionQueue {
  constructor(
    private readonly publisher: EventPublisher<ExecutionRequestedEvent>,
    private readonly clock: Clock,
  ) {}

  async enqueue(message: ExecutionMessage): Promise<void> {
    const event: ExecutionRequestedEvent = {
      eventId: uuidFromText(`${message.requestId}|${message.token}`),
      type: EXECUTION_REQUESTED,
      detectedAt: new Date(this.clock.now()).toISOString(),
      requestId: message.requestId,
      token: message.token,
    };
    const { failed } = await this.publisher.publish([event]);
    if (failed.length > 0) throw new Error("the execution request did not reach the bus");
  }
}

/**
 * An execution message from a queue record body: `{"requestId","token"}` as sent directly, or
 * the EventBridge envelope a bus rule delivers (`detail` holds it). Undefined when it is neither.
 */
export function parseExecutionMessage(body: string): ExecutionMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const candidate = isRecord(value) && isRecord(value.detail) ? value.detail : value;
  if (!isRecord(candidate)) return undefined;
  const { requestId, token } = candidate;
  if (typeof requestId !== "string" || typeof token !== "string") return undefined;
  return { requestId, token };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The parts on AWS: DynamoDB, the bus for events and (through a rule) for execution messages.
 * Built once per cold start by each handler.
 */
export function awsDecommissionParts(
  config: DecommissionCommonEnvironment,
  clients: { dynamodb: DynamoDBClient; eventBridge: EventBridgeClient },
  logger: Logger,
): DecommissionParts {
  const bus = <E extends BusEvent>() =>
    new EventBridgePublisher<E>({
      client: clients.eventBridge,
      busName: config.EVENT_BUS_NAME,
      source: config.EVENT_SOURCE,
      clock: systemClock,
      random: systemRandom,
      logger,
    });
  return {
    documents: DynamoDBDocumentClient.from(clients.dynamodb, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    tableName: config.TABLE_NAME,
    publisher: bus<DecommissionEvent>(),
    queue: new BusExecutionQueue(bus<ExecutionRequestedEvent>(), systemClock),
    clock: systemClock,
    random: systemRandom,
    logger,
    pauseCacheMs: config.PAUSE_CACHE_SECONDS * 1000,
    startPaused: config.DECOMMISSION_START_PAUSED,
  };
}

/**
 * The executor as its Lambda builds it: write secret from Secrets Manager, the approval key in
 * KMS, settings from env.
 */
export function createAwsExecutor(
  config: DecommissionExecutorEnvironment,
  clients: { dynamodb: DynamoDBClient; eventBridge: EventBridgeClient; kms: MacClient },
  logger: Logger,
): Executor {
  const parts = {
    ...awsDecommissionParts(config, clients, logger),
    verifier: new KmsApprovalMac(clients.kms, config.APPROVAL_KEY_ID),
  };
  const secretId = config.EVENERGY_WRITE_SECRET_ID;
  if (!config.EXECUTION_ENABLED) return createDisabledExecutor(parts);
  if (secretId === undefined) {
    // config.ts already refuses this; kept so no path builds a client without a credential.
    throw new ConfigurationError("invalid configuration: EVENERGY_WRITE_SECRET_ID is not set");
  }
  const settings = executorSettingsFrom(config);
  return createExecutor(
    {
      ...parts,
      api: createWriteClient({
        ...settings.client,
        secrets: new SecretsManagerSecretSource({ secretId }),
        clock: systemClock,
        random: systemRandom,
        logger,
      }),
    },
    settings.execution,
  );
}
