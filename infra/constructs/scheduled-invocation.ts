import { Aws, Duration, Stack, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import type { LambdaFunction } from "./lambda-function.js";

export interface ScheduledInvocationProps {
  /** What a run does, for descriptions: `start a poll`. */
  readonly purpose: string;
  readonly stage: string;
  readonly interval: Duration;
  /** Scheduler's retries of an undelivered invocation, within one interval. @default 2 */
  readonly retryAttempts?: number;
}

/** The schedule of a function and the two queues its failures land in. */
export interface ScheduledInvocation {
  readonly schedule: Schedule;
  /** Scheduled invocations Scheduler could not deliver. */
  readonly scheduleDeadLetterQueue: Queue;
  /** Records of runs that failed inside the function. */
  readonly failureQueue: Queue;
}

/**
 * Runs `target` every `interval` on EventBridge Scheduler, in `scope` (children `Schedule`,
 * `ScheduleRole`, `ScheduleDeadLetterQueue`, `FailureQueue`).
 *
 * Failure handling: Scheduler retries an invocation it could not deliver, within one interval,
 * then parks it in a dead-letter queue. A run that fails inside the function is not retried by
 * Lambda (the next scheduled run is the retry); its invocation record goes to an on-failure
 * queue. Both queues are watched by alarms.
 *
 * Each run receives `{scheduleArn, scheduledTime, executionId, attemptNumber}`.
 */
export function scheduleInvocations(
  scope: Construct,
  target: LambdaFunction,
  props: ScheduledInvocationProps,
): ScheduledInvocation {
  const fn = target.function;
  const { interval } = props;

  const failureQueue = failureOnlyQueue(scope, "FailureQueue");
  fn.configureAsyncInvoke({
    retryAttempts: 0,
    maxEventAge: interval,
    onFailure: new SqsDestination(failureQueue),
  });

  const scheduleDeadLetterQueue = failureOnlyQueue(scope, "ScheduleDeadLetterQueue");
  // Scheduler's own role (rather than the stack-wide one LambdaInvoke would share), so that
  // it can be reviewed and acknowledged here; only this account's schedules may assume it.
  const scheduleRole = new Role(scope, "ScheduleRole", {
    assumedBy: new ServicePrincipal("scheduler.amazonaws.com").withConditions({
      StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID },
    }),
    description: `Lets EventBridge Scheduler ${props.purpose} (evse-ops ${props.stage})`,
  });
  const minutes = interval.toMinutes();
  const schedule = new Schedule(scope, "Schedule", {
    description: `evse-ops ${props.stage}: ${props.purpose} every ${minutes} min`,
    schedule: ScheduleExpression.rate(interval),
    target: new LambdaInvoke(fn, {
      role: scheduleRole,
      retryAttempts: props.retryAttempts ?? 2,
      // A delivery later than one interval would only collide with the next scheduled run.
      maxEventAge: interval,
      deadLetterQueue: scheduleDeadLetterQueue,
      input: ScheduleTargetInput.fromObject({
        scheduleArn: ContextAttribute.scheduleArn,
        scheduledTime: ContextAttribute.scheduledTime,
        executionId: ContextAttribute.executionId,
        attemptNumber: ContextAttribute.attemptNumber,
      }),
    }),
  });

  Validations.of(scheduleRole).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(fn.node.defaultChild as CfnFunction)}.Arn>:*]`,
    reason:
      "LambdaInvoke grants lambda:InvokeFunction on the function and its qualified ARNs (function:*, i.e. its versions and aliases); the wildcard never reaches another function.",
  });
  Validations.of(fn).acknowledge({
    id: "Serverless-LambdaDLQ",
    reason:
      "Failed asynchronous invocations go to an SQS on-failure destination (configureAsyncInvoke onFailure), which records the request, the error and the context; a DeadLetterConfig would duplicate it with less information.",
  });

  return { schedule, scheduleDeadLetterQueue, failureQueue };
}

/**
 * A queue that only ever receives failures, for an operator to inspect and purge or redrive:
 * SQS-encrypted, TLS only, messages kept 14 days.
 */
export function failureOnlyQueue(scope: Construct, id: string): Queue {
  const queue = new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const reason =
    "This queue is itself the dead-letter target for failed invocations; nothing consumes it automatically (an operator inspects and redrives), so it has no consumer whose failures would need a further dead-letter queue.";
  Validations.of(queue).acknowledge(
    { id: "AwsSolutions-SQS3", reason },
    { id: "Serverless-SQSRedrivePolicy", reason },
  );
  return queue;
}
