/**
 * Composition of the poll: the adapters it needs, built once per cold start (Lambda) or per
 * process (local CLI, sandbox), and a `poll` function that runs the core once.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoDeviceStore } from "./adapters/dynamodb/device-store.js";
import { DynamoFleetHealthStore } from "./adapters/dynamodb/fleet-health-store.js";
import { DynamoPauseSwitch, POLL_SWITCH } from "./adapters/dynamodb/pause-switch.js";
import { DynamoRequestLedger } from "./adapters/dynamodb/request-ledger.js";
import { DynamoSweepStore } from "./adapters/dynamodb/sweep-store.js";
import { countedEvEnergyClient } from "./adapters/ev-energy/counted-client.js";
import type { PollEnvironment } from "./config.js";
import type { ChangeEvent } from "./core/device-state.js";
import type { FleetEvent } from "./core/fleet-alert.js";
import { FleetHealth } from "./core/fleet-health.js";
import { type PollSummary, runPoll } from "./core/poll.js";
import { pollShareBeside } from "./core/webhooks/budget.js";
import type {
  Clock,
  DeviceStore,
  EvEnergyApi,
  EventPublisher,
  FleetHealthStore,
  Logger,
  Random,
  SecretSource,
  SweepStore,
} from "./ports.js";

export interface PollRuntimeParts {
  config: PollEnvironment;
  secrets: SecretSource;
  documents: DynamoDBDocumentClient;
  /** Change events and the fleet-wide events (degraded, restored). */
  publisher: EventPublisher<ChangeEvent | FleetEvent>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Off only for benchmarks. */
  budgetEnabled?: boolean;
  /** Decorates the device store (tests race or crash writes through it). */
  wrapDevices?: (store: DeviceStore) => DeviceStore;
  /** Decorates the sweep store (tests crash a checkpoint write through it). */
  wrapSweeps?: (store: SweepStore) => SweepStore;
  /** Benchmarks only: no history, rollups, snapshot or fleet alert, to compare side by side. */
  withoutFleetHealth?: boolean;
  /** Decorates the ev.energy client (tests watch each page as the poll receives it). */
  wrapApi?: (api: EvEnergyApi) => EvEnergyApi;
  /** Decorates the fleet-health store (tests crash a history or rollup write through it). */
  wrapHealth?: (store: FleetHealthStore) => FleetHealthStore;
}

export interface PollRequest {
  runId: string;
  /** Milliseconds this run may take; the lease outlives it. */
  timeLimitMs: number;
}

/** Stop starting pages this long before the time limit: a page's commit fits in it. */
const PAGE_MARGIN_MS = 15_000;
/** The lease outlives the run by this much, so a live run never loses it. */
const LEASE_GRACE_MS = 60_000;
const MAX_ATTEMPTS = 4;
/**
 * How long a read of the poll switch is reused. Lambda runs are minutes apart, so each reads
 * it afresh; a process that polls more often reads it at most every 15 s of its clock.
 */
const POLL_SWITCH_CACHE_MS = 15_000;

export function createPoller(parts: PollRuntimeParts) {
  const { config, clock, random, logger } = parts;
  const { api, tally } = countedEvEnergyClient({
    config,
    secrets: parts.secrets,
    clock,
    random,
    logger,
    maxAttempts: MAX_ATTEMPTS,
  });
  const dependencies = {
    api: parts.wrapApi ? parts.wrapApi(api) : api,
    devices: (parts.wrapDevices ?? ((store) => store))(
      new DynamoDeviceStore(parts.documents, config.TABLE_NAME),
    ),
    sweeps: (parts.wrapSweeps ?? ((store) => store))(
      new DynamoSweepStore(parts.documents, config.TABLE_NAME),
    ),
    ledger: new DynamoRequestLedger(parts.documents, config.TABLE_NAME),
    pause: new DynamoPauseSwitch(parts.documents, config.TABLE_NAME, {
      sortKey: POLL_SWITCH,
      clock,
      cacheMs: POLL_SWITCH_CACHE_MS,
      pausedWhenUnset: config.POLL_START_PAUSED,
    }),
    publisher: parts.publisher,
    clock,
    logger,
    requestsSent: () => tally.count,
    health: parts.withoutFleetHealth
      ? undefined
      : new FleetHealth(
          (parts.wrapHealth ?? ((store) => store))(
            new DynamoFleetHealthStore(parts.documents, config.TABLE_NAME, {
              historyRetentionMs: config.HISTORY_RETENTION_DAYS * 86_400_000,
            }),
          ),
          {
            stalenessMs: config.STALENESS_MINUTES * 60_000,
            degradedShare: config.FLEET_DEGRADED_SHARE,
          },
        ),
  };

  return {
    api,
    async poll(request: PollRequest): Promise<PollSummary> {
      const now = clock.now();
      return runPoll(dependencies, {
        runId: request.runId,
        deadline: now + request.timeLimitMs,
        leaseMs: request.timeLimitMs + LEASE_GRACE_MS,
        pageMarginMs: Math.min(PAGE_MARGIN_MS, request.timeLimitMs / 4),
        // Every attempt, plus a token exchange and the retry after a 401 refresh.
        worstCaseRequestsPerPage: MAX_ATTEMPTS + 2,
        writeConcurrency: 16,
        stalenessMs: config.STALENESS_MINUTES * 60_000,
        chargeRateThresholdWatts: config.CHARGE_RATE_THRESHOLD_WATTS,
        heartbeatMs: config.HEARTBEAT_MINUTES * 60_000,
        budget: {
          enabled: parts.budgetEnabled ?? true,
          // The webhook path spends its own share from its own ledger; the poll keeps the rest.
          share: pollShareBeside(config.BUDGET_SHARE, config.WEBHOOK_BUDGET_SHARE),
          reserve: config.RESERVE_REQUESTS,
          defaultLimit: config.RATE_LIMIT_DEFAULT,
        },
      });
    },
  };
}

/** Whether a run's end should page someone (an error), as opposed to a normal early stop. */
export function pollFailed(summary: PollSummary): boolean {
  return summary.stoppedBecause === "error" || summary.stoppedBecause === "upstream-error";
}
