/**
 * The decommission side of the sandbox, in one process: the API on 127.0.0.1, the executor and
 * the reconciler on the local queue. The same composition as on AWS, with local adapters.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoPauseSwitch } from "../functions/adapters/dynamodb/pause-switch.js";
import type { DecommissionEvent } from "../functions/core/decommission/model.js";
import {
  createDecommissionApi,
  createExecutor,
  createReconciler,
  createWriteClient,
} from "../functions/decommission-runtime.js";
import type { Clock, EventPublisher, Logger, Random, SecretSource } from "../functions/ports.js";
import { startApiServer } from "./api-server.js";
import { LocalExecutionQueue } from "./execution-queue.js";

/** The sandbox's approvers: the `approver*` roles of any account, and their sessions. */
export const SANDBOX_APPROVER_PATTERNS = ["arn:aws:iam::*:role/approver*"];

export interface DecommissionServiceOptions {
  documents: DynamoDBDocumentClient;
  tableName: string;
  publisher: EventPublisher<DecommissionEvent>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The write-scoped ev.energy credential and where to use it. */
  writeSecrets: SecretSource;
  apiUrl: string;
  tokenUrl?: string | undefined;
  /** 0: any free port. */
  port: number;
  approverPatterns?: readonly string[];
  /** Real-time timers for the queue and the reconciler; off: call `pump`/`reconcile` yourself. */
  timers?: { queueEveryMs: number; reconcileEveryMs: number } | false;
}

export async function startDecommissionService(options: DecommissionServiceOptions) {
  const { clock, logger } = options;
  const queue = new LocalExecutionQueue({
    clock,
    logger,
    visibilityTimeoutMs: 60_000,
    maxReceives: 20,
  });
  const parts = {
    documents: options.documents,
    tableName: options.tableName,
    publisher: options.publisher,
    queue,
    clock,
    random: options.random,
    logger,
    pauseCacheMs: 2_000,
  };
  const api = createDecommissionApi(parts, {
    approverPatterns: options.approverPatterns ?? SANDBOX_APPROVER_PATTERNS,
    pendingExpiryMs: 7 * 86_400_000,
    idempotencyRetentionMs: 86_400_000,
  });
  const executor = createExecutor(
    {
      ...parts,
      api: createWriteClient({
        apiUrl: options.apiUrl,
        tokenUrl: options.tokenUrl,
        scope: "evse:write",
        requestTimeoutMs: 10_000,
        secrets: options.writeSecrets,
        clock,
        random: options.random,
        logger,
      }),
    },
    { maxAttempts: 8, baseBackoffMs: 30_000, maxBackoffMs: 900_000, leaseMs: 300_000 },
  );
  const reconciler = createReconciler(parts, {
    staleAfterMs: 15 * 60_000,
    republishWindowMs: 86_400_000,
  });
  queue.connect(executor.execute, reconciler.deadLetter);
  const server = await startApiServer({ handler: api, port: options.port, logger });
  const pause = new DynamoPauseSwitch(options.documents, options.tableName, {
    clock,
    cacheMs: 0,
    pausedWhenUnset: false,
  });

  const timers: NodeJS.Timeout[] = [];
  let busy: Promise<unknown> = Promise.resolve();
  const serially = (work: () => Promise<unknown>) => {
    busy = busy
      .then(work)
      .catch((error: unknown) =>
        logger.error("decommission background work failed", { error: String(error) }),
      );
    return busy;
  };
  if (options.timers) {
    timers.push(setInterval(() => serially(() => queue.deliverDue()), options.timers.queueEveryMs));
    timers.push(
      setInterval(() => serially(() => reconciler.run()), options.timers.reconcileEveryMs),
    );
  }

  return {
    url: server.url,
    queue,
    pause,
    api,
    /** Delivers the messages due now. */
    pump: () => serially(() => queue.deliverDue()),
    reconcile: () => reconciler.run(),
    async close() {
      for (const timer of timers) clearInterval(timer);
      await busy;
      await server.close();
    },
  };
}
