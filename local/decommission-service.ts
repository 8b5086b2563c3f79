/**
 * The decommission side of the sandbox, in one process: the API on 127.0.0.1, the executor and
 * the reconciler on the local queue. The same composition as on AWS, with local adapters.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ApiHandler } from "../functions/api/app.js";
import {
  loadDecommissionApiEnvironment,
  loadDecommissionExecutorEnvironment,
  loadDecommissionReconcilerEnvironment,
} from "../functions/config.js";
import type { DecommissionEvent } from "../functions/core/decommission/model.js";
import {
  apiSettingsFrom,
  createDecommissionApi,
  createExecutor,
  createReconciler,
  createWriteClient,
  executorSettingsFrom,
  reconcilerSettingsFrom,
} from "../functions/decommission-runtime.js";
import type { Clock, EventPublisher, Logger, Random, SecretSource } from "../functions/ports.js";
import { WEBHOOK_PATH } from "../functions/webhook-receiver.js";
import { startApiServer } from "./api-server.js";
import { LocalExecutionQueue } from "./execution-queue.js";
import { HmacApprovalMac } from "./hmac-approval-mac.js";

/** The sandbox's approver role: its sessions may approve (`assumed-role/approver/<name>`). */
export const SANDBOX_APPROVER_ROLES = ["arn:aws:iam::111111111111:role/approver"];

/**
 * Whether the sandbox's executor may DELETE, and the line that says so at start: always
 * against the simulator; against a real ev.energy account only with the loudly named flag.
 */
export function deletionTarget(options: {
  simulated: boolean;
  apiUrl: string;
  deleteRealChargers: boolean;
}): { executes: boolean; banner: string } {
  if (options.simulated) {
    return { executes: true, banner: `DELETE at the simulated ev.energy ${options.apiUrl}` };
  }
  if (options.deleteRealChargers) {
    return {
      executes: true,
      banner: `!!! --delete-real-chargers: approved requests DELETE REAL CHARGERS at ${options.apiUrl} !!!`,
    };
  }
  return {
    executes: false,
    banner: `OFF: approved requests fail without a DELETE at ${options.apiUrl} (start with --delete-real-chargers to allow it)`,
  };
}

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
  /** The HMAC key approvals are signed with (the sandbox's own; KMS on AWS). */
  approvalKey: Uint8Array;
  /** Off: approved requests fail unexecuted, nothing is ever DELETEd (pointed at a real account). */
  executes?: boolean;
  /** 0: any free port. */
  port: number;
  /** Real-time timers for the queue and the reconciler; off: drive `queue` yourself. */
  timers?: { queueEveryMs: number; reconcileEveryMs: number } | false;
  /** ev.energy's webhook endpoint, served on the same port at `POST /webhooks/ev-energy`. */
  webhooks?: ApiHandler;
}

export async function startDecommissionService(options: DecommissionServiceOptions) {
  const { clock, logger } = options;
  // The functions' own defaults (config.ts), with the sandbox's approvers and endpoints.
  const common = { TABLE_NAME: options.tableName, EVENT_BUS_NAME: "sandbox" };
  const executorSettings = executorSettingsFrom(
    loadDecommissionExecutorEnvironment({
      ...common,
      EVENERGY_API_URL: options.apiUrl,
      EVENERGY_TOKEN_URL: options.tokenUrl,
      EVENERGY_WRITE_SECRET_ID: "sandbox",
      APPROVAL_KEY_ID: "sandbox",
    }),
  );
  const queue = new LocalExecutionQueue({ clock, logger });
  const parts = {
    documents: options.documents,
    tableName: options.tableName,
    publisher: options.publisher,
    queue,
    clock,
    random: options.random,
    logger,
    // Shorter than on AWS, so pausing in the sandbox shows at once.
    pauseCacheMs: 2_000,
  };
  const approvals = new HmacApprovalMac(options.approvalKey);
  const api = createDecommissionApi(
    { ...parts, signer: approvals },
    apiSettingsFrom(
      loadDecommissionApiEnvironment({
        ...common,
        APPROVER_ROLE_ARNS: SANDBOX_APPROVER_ROLES.join(","),
        APPROVAL_KEY_ID: "sandbox",
      }),
    ),
  );
  const executor = createExecutor(
    {
      ...parts,
      verifier: approvals,
      api: createWriteClient({
        ...executorSettings.client,
        secrets: options.writeSecrets,
        clock,
        random: options.random,
        logger,
      }),
    },
    executorSettings.execution,
  );
  const reconciler = createReconciler(
    parts,
    reconcilerSettingsFrom(loadDecommissionReconcilerEnvironment(common)),
  );
  if (options.executes === false) {
    // Approved requests fail at once, saying why, so none waits for a later start that may
    // delete: nothing reaches ev.energy's DELETE.
    const reason = `this sandbox does not delete at ${options.apiUrl} (started without --delete-real-chargers)`;
    queue.connect(
      async (message) => {
        const outcome = await reconciler.refuse(message, reason);
        return outcome.kind === "retry"
          ? { kind: "retry", delayMs: outcome.delayMs, note: reason }
          : { kind: "done", outcome: "failed", note: reason };
      },
      (message) => reconciler.refuse(message, reason),
    );
  } else {
    queue.connect(executor.execute, reconciler.deadLetter);
  }
  // On AWS the webhook endpoint is an API of its own; locally one port serves both.
  const webhooks = options.webhooks;
  const handler: ApiHandler = webhooks
    ? (event) => (event.path === WEBHOOK_PATH ? webhooks(event) : api(event))
    : api;
  const server = await startApiServer({
    handler,
    port: options.port,
    logger,
    ...(webhooks ? { unsignedPaths: [WEBHOOK_PATH] } : {}),
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
    async close() {
      for (const timer of timers) clearInterval(timer);
      await busy;
      await server.close();
    },
  };
}
