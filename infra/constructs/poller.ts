import { Aws, Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { EvEnergySettings, PollSettings } from "../config.js";
import { LambdaFunction } from "./lambda-function.js";

export interface PollerProps {
  readonly stage: string;
  readonly poll: PollSettings;
  readonly evEnergy: EvEnergySettings;
  /** The `source` of the change events. */
  readonly eventSource: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:read credential; the poller is never given the write one. */
  readonly readSecret: ISecret;
}

/**
 * The fleet watcher: EventBridge Scheduler starts the poll function every
 * `poll.scheduleMinutes`; it sweeps ev.energy, writes device state to the table and publishes
 * change events on the bus.
 *
 * Failure handling: Scheduler retries an invocation it could not deliver, within one schedule
 * interval, then parks it in a dead-letter queue. A run that fails inside the function is not
 * retried by Lambda (the next scheduled run resumes from the saved checkpoint, which is the
 * retry); its invocation record goes to an on-failure queue.
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
      handler: "handler",
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
        RESERVE_REQUESTS: String(poll.reserveRequests),
        RATE_LIMIT_DEFAULT: String(poll.rateLimitDefault),
        SCHEDULE_MINUTES: String(poll.scheduleMinutes),
      },
    });
    const fn = this.pollFunction.function;

    // What the poll needs, and nothing else: read its one credential, read and write state,
    // publish on its own bus.
    props.readSecret.grantRead(this.pollFunction);
    props.table.grantReadWriteData(this.pollFunction);
    props.bus.grantPutEventsTo(this.pollFunction);

    this.failureQueue = this.deadLetterQueue("FailureQueue");
    fn.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: interval,
      onFailure: new SqsDestination(this.failureQueue),
    });

    this.scheduleDeadLetterQueue = this.deadLetterQueue("ScheduleDeadLetterQueue");
    // Scheduler's own role (rather than the stack-wide one LambdaInvoke would share), so that
    // it can be reviewed and acknowledged here; only this account's schedules may assume it.
    const scheduleRole = new Role(this, "ScheduleRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com").withConditions({
        StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID },
      }),
      description: `Lets EventBridge Scheduler start the evse-ops ${props.stage} poll`,
    });
    this.schedule = new Schedule(this, "Schedule", {
      description: `evse-ops ${props.stage}: start a poll every ${poll.scheduleMinutes} min`,
      schedule: ScheduleExpression.rate(interval),
      target: new LambdaInvoke(fn, {
        role: scheduleRole,
        retryAttempts: 2,
        // A delivery later than one interval would only collide with the next scheduled run.
        maxEventAge: interval,
        deadLetterQueue: this.scheduleDeadLetterQueue,
        input: ScheduleTargetInput.fromObject({
          scheduleArn: ContextAttribute.scheduleArn,
          scheduledTime: ContextAttribute.scheduledTime,
          executionId: ContextAttribute.executionId,
          attemptNumber: ContextAttribute.attemptNumber,
        }),
      }),
    });

    Validations.of(scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason:
        "LambdaInvoke grants lambda:InvokeFunction on the poll function and its qualified ARNs (function:*, i.e. its versions and aliases); the wildcard never reaches another function.",
    });

    Validations.of(fn).acknowledge({
      id: "Serverless-LambdaDLQ",
      reason:
        "Failed asynchronous invocations go to an SQS on-failure destination (configureAsyncInvoke onFailure), which records the request, the error and the context; a DeadLetterConfig would duplicate it with less information.",
    });
  }

  /** A queue that only ever receives failures, for an operator to inspect and redrive. */
  private deadLetterQueue(id: string): Queue {
    const queue = new Queue(this, id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const reason =
      "This queue is itself the dead-letter target for failed poll invocations; nothing consumes it automatically (an operator inspects and redrives), so it has no consumer whose failures would need a further dead-letter queue.";
    Validations.of(queue).acknowledge(
      { id: "AwsSolutions-SQS3", reason },
      { id: "Serverless-SQSRedrivePolicy", reason },
    );
    return queue;
  }
}
