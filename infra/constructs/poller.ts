import { Duration, type RemovalPolicy } from "aws-cdk-lib";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Schedule } from "aws-cdk-lib/aws-scheduler";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { ITEM_ACCESS } from "../../functions/adapters/dynamodb/table-design.js";
import type { EvEnergySettings, FleetHealthSettings, PollSettings } from "../config.js";
import { CHANGE_DETAIL_TYPES, grantPublish } from "./bus-publishing.js";
import { grantItemAccess } from "./item-access.js";
import { LambdaFunction } from "./lambda-function.js";
import { scheduleInvocations } from "./scheduled-invocation.js";

export interface PollerProps {
  readonly stage: string;
  readonly poll: PollSettings;
  readonly evEnergy: EvEnergySettings;
  /** History retention and the fleet-wide alert's share; defaults when left out. */
  readonly fleetHealth?: FleetHealthSettings;
  /** The `source` of the change events. */
  readonly eventSource: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:read credential; the poller is never given the write one. */
  readonly readSecret: ISecret;
  /** The webhook path's share of the rate limit, out of `poll.budgetShare`; default none. */
  readonly webhookBudgetShare?: number;
}

/**
 * The fleet watcher: EventBridge Scheduler starts the poll function every
 * `poll.scheduleMinutes`; it sweeps ev.energy, writes device state to the table and publishes
 * change events on the bus.
 *
 * Failure handling (see scheduleInvocations): Scheduler retries an undelivered invocation within
 * one interval, then parks it in a dead-letter queue; a run that fails inside the function is
 * not retried by Lambda (the next scheduled run resumes from the saved checkpoint, which is the
 * retry) and its invocation record goes to an on-failure queue.
 *
 * The schedule always runs; whether a run polls is data (the poll switch, the table item
 * `CONTROL` / `POLL_PAUSE`, `poll.startPaused` until it is written), so that a deploy never
 * starts or stops a poll an operator paused or started.
 *
 * Concurrency is left unreserved on purpose: overlapping runs are already excluded by the lease
 * in the table, and reserving 1 would only carve capacity out of the account's shared pool and
 * turn an overlapping delivery into a throttle.
 */
export class Poller extends Construct {
  readonly pollFunction: LambdaFunction;
  readonly schedule: Schedule;
  /** Scheduled invocations Scheduler could not deliver. */
  readonly scheduleDeadLetterQueue: Queue;
  /** Records of poll runs that failed inside the function. */
  readonly failureQueue: Queue;

  constructor(scope: Construct, id: string, props: PollerProps) {
    super(scope, id);
    const { poll, evEnergy } = props;
    const interval = Duration.minutes(poll.scheduleMinutes);
    const timeout = Duration.seconds(poll.timeoutSeconds);
    if (timeout.toSeconds() >= interval.toSeconds()) {
      throw new Error(
        `Poller: the poll function's timeout (${timeout.toSeconds()} s) must be shorter than the schedule interval (${interval.toSeconds()} s), so that each run ends before the next one starts; lower poll.timeoutSeconds or raise poll.scheduleMinutes.`,
      );
    }

    this.pollFunction = new LambdaFunction(this, "PollFunction", {
      entry: "functions/handlers/poll.ts",
      serviceName: "evse-ops-poller",
      description: `evse-ops ${props.stage}: sweep the ev.energy fleet and publish EVSE changes`,
      timeout,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        TABLE_NAME: props.table.tableName,
        EVENT_BUS_NAME: props.bus.eventBusName,
        EVENT_SOURCE: props.eventSource,
        EVENERGY_API_URL: evEnergy.apiBaseUrl,
        EVENERGY_TOKEN_URL: evEnergy.tokenUrl,
        EVENERGY_SCOPE: evEnergy.readScope,
        EVENERGY_SECRET_ID: props.readSecret.secretArn,
        STALENESS_MINUTES: String(poll.stalenessMinutes),
        CHARGE_RATE_THRESHOLD_WATTS: String(poll.chargeRateThresholdWatts),
        HEARTBEAT_MINUTES: String(poll.heartbeatMinutes),
        BUDGET_SHARE: String(poll.budgetShare),
        WEBHOOK_BUDGET_SHARE: String(props.webhookBudgetShare ?? 0),
        RESERVE_REQUESTS: String(poll.reserveRequests),
        RATE_LIMIT_DEFAULT: String(poll.rateLimitDefault),
        SCHEDULE_MINUTES: String(poll.scheduleMinutes),
        POLL_START_PAUSED: String(poll.startPaused),
        HISTORY_RETENTION_DAYS: String(props.fleetHealth?.historyRetentionDays ?? 90),
        FLEET_DEGRADED_SHARE: String(props.fleetHealth?.degradedShare ?? 0.2),
      },
    });

    // What the poll needs, and nothing else: read its one credential, read and write its own
    // items (devices, lease and checkpoint, ledger; read its switch; write the fleet-health
    // items; never a decommission request), publish its change and fleet events (and no other
    // detail-type) on its own bus.
    props.readSecret.grantRead(this.pollFunction);
    grantItemAccess(props.table, this.pollFunction, ITEM_ACCESS.poll);
    grantPublish(props.bus, this.pollFunction, props.eventSource, CHANGE_DETAIL_TYPES);

    const runs = scheduleInvocations(this, this.pollFunction, {
      purpose: "start a poll",
      stage: props.stage,
      interval,
    });
    this.schedule = runs.schedule;
    this.scheduleDeadLetterQueue = runs.scheduleDeadLetterQueue;
    this.failureQueue = runs.failureQueue;
  }
}
