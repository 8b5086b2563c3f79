import type { APIGatewayProxyResult } from "aws-lambda";
import { DynamoDecommissionStore } from "../../functions/adapters/dynamodb/decommission-store.js";
import { DynamoPauseSwitch } from "../../functions/adapters/dynamodb/pause-switch.js";
import type { ExecutorSettings } from "../../functions/core/decommission/execute.js";
import type { DecommissionEvent } from "../../functions/core/decommission/model.js";
import type { ExecutionQueue } from "../../functions/core/decommission/ports.js";
import {
  createDecommissionApi,
  createDisabledExecutor,
  createExecutor,
  createReconciler,
  createWriteClient,
} from "../../functions/decommission-runtime.js";
import type { EventPublisher } from "../../functions/ports.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { LocalExecutionQueue } from "../../local/execution-queue.js";
import { seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import type { SimulatorOptions } from "../../local/simulator/types.js";
import type { useDynalite } from "../support/dynamo.js";
import { silentLogger, startPollHarness } from "../support/poll-harness.js";
import { SANDBOX_APPROVERS, TEST_APPROVALS } from "./fixtures.js";

export const DAY = 86_400_000;

export interface HarnessOptions {
  simulator?: Omit<SimulatorOptions, "clock">;
  /** The executor's ev.energy client (default: the simulator's read+write client). */
  writeClient?: { clientId: string; clientSecret: string };
  executor?: Partial<ExecutorSettings>;
  maxReceives?: number;
  /** Wraps the queue the API and reconciler enqueue to (e.g. to lose messages). */
  wrapQueue?: (queue: ExecutionQueue) => ExecutionQueue;
  /** Wraps the bus the functions publish to (e.g. to make it fail). */
  wrapPublisher?: (
    publisher: EventPublisher<DecommissionEvent>,
  ) => EventPublisher<DecommissionEvent>;
  /** false: the stage's execution is off (`decommission.executor.enabled`), as in dev. */
  executionEnabled?: boolean;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * The decommission functions as they run on AWS, over real sockets: the simulated ev.energy,
 * the embedded DynamoDB, the local queue; one ManualClock for all. A first poll records the
 * fleet so requests find their devices.
 */
export async function startDecommissionHarness(
  dynamo: ReturnType<typeof useDynalite>,
  options: HarnessOptions = {},
) {
  const poll = await startPollHarness(dynamo, {
    simulator: {
      fleetSize: 20,
      ...options.simulator,
      clients: [
        {
          clientId: "sandbox-client",
          clientSecret: "sandbox-secret",
          scopes: ["evse:read", "evse:write"],
        },
        { clientId: "reader", clientSecret: "reader-secret", scopes: ["evse:read"] },
        {
          clientId: "other-account",
          clientSecret: "other-secret",
          scopes: ["evse:read", "evse:write"],
          account: "empty",
        },
        ...(options.simulator?.clients ?? []),
      ],
    },
  });
  await poll.poll();
  const { clock, sim, tableName } = poll;
  const publisher = new RecordingPublisher<DecommissionEvent>();
  const localQueue = new LocalExecutionQueue({
    clock,
    visibilityTimeoutMs: 60_000,
    maxReceives: options.maxReceives ?? 20,
  });
  const queue = options.wrapQueue ? options.wrapQueue(localQueue) : localQueue;
  const random = seededRandom(3);
  const parts = {
    documents: dynamo.documents,
    tableName,
    publisher: options.wrapPublisher ? options.wrapPublisher(publisher) : publisher,
    queue,
    clock,
    random,
    logger: silentLogger,
    pauseCacheMs: 0,
  };
  const api = createDecommissionApi(
    { ...parts, signer: TEST_APPROVALS },
    {
      approverPatterns: SANDBOX_APPROVERS,
      pendingExpiryMs: 7 * DAY,
      idempotencyRetentionMs: DAY,
      ...(options.executionEnabled === undefined
        ? {}
        : { executionEnabled: options.executionEnabled }),
    },
  );
  const credentials = options.writeClient ?? {
    clientId: "sandbox-client",
    clientSecret: "sandbox-secret",
  };
  const writeClient = createWriteClient({
    apiUrl: sim.apiBaseUrl,
    tokenUrl: sim.tokenUrl,
    scope: "evse:write",
    // Real time: only a scripted hang reaches it, never a loaded machine's ordinary answer.
    requestTimeoutMs: 1_000,
    secrets: {
      read: async () =>
        JSON.stringify({
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
        }),
    },
    clock,
    random,
    logger: silentLogger,
  });
  const executor =
    options.executionEnabled === false
      ? createDisabledExecutor({ ...parts, verifier: TEST_APPROVALS })
      : createExecutor(
          { ...parts, api: writeClient, verifier: TEST_APPROVALS },
          {
            maxAttempts: 5,
            baseBackoffMs: 30_000,
            maxBackoffMs: 600_000,
            leaseMs: 300_000,
            ...options.executor,
          },
        );
  const reconciler = createReconciler(parts, {
    staleAfterMs: 15 * 60_000,
    republishWindowMs: DAY,
  });
  localQueue.connect(executor.execute, reconciler.deadLetter);
  const store = new DynamoDecommissionStore(dynamo.documents, tableName);
  const pause = new DynamoPauseSwitch(dynamo.documents, tableName, {
    clock,
    cacheMs: 0,
    pausedWhenUnset: false,
  });
  const devices = await poll.devices.readRange({});
  let keys = 0;

  async function call(
    method: string,
    path: string,
    options: {
      as: string;
      body?: unknown;
      headers?: Array<[string, string]>;
      query?: Array<[string, string]>;
    },
  ): Promise<Answer> {
    const headers: Array<[string, string]> = [...(options.headers ?? [])];
    if (options.body !== undefined) headers.push(["Content-Type", "application/json"]);
    const result: APIGatewayProxyResult = await api(
      proxyEvent({
        method,
        path,
        callerArn: options.as,
        headers,
        ...(options.query ? { query: options.query } : {}),
        body: options.body === undefined ? null : JSON.stringify(options.body),
      }),
    );
    return {
      status: result.statusCode,
      headers: (result.headers ?? {}) as Record<string, string>,
      body: result.body === "" ? {} : (JSON.parse(result.body) as Record<string, unknown>),
    };
  }

  return {
    poll,
    sim,
    clock,
    publisher,
    queue: localQueue,
    executor,
    reconciler,
    store,
    pause,
    devices,
    api,
    call,
    /** POST /decommission-requests with a fresh key. */
    create(as: string, evseId: string, reason = "site closed") {
      keys += 1;
      return call("POST", "/decommission-requests", {
        as,
        body: { evseId, reason },
        headers: [["Idempotency-Key", `key-${keys}`]],
      });
    },
    approve(as: string, id: string, body?: unknown) {
      return call("POST", `/decommission-requests/${id}/approve`, {
        as,
        ...(body === undefined ? {} : { body }),
      });
    },
    get(as: string, id: string) {
      return call("GET", `/decommission-requests/${id}`, { as });
    },
    /** Delivers queued messages (moving the clock to each) until the queue is empty. */
    run: () => localQueue.drain(clock),
    eventTypes: () => publisher.events.map((event) => event.type),
    close: () => poll.close(),
  };
}

export type DecommissionHarness = Awaited<ReturnType<typeof startDecommissionHarness>>;
