import { Duration } from "aws-cdk-lib";
import {
  type Alarm,
  ComparisonOperator,
  GraphWidget,
  type IWidget,
  MathExpression,
  Metric,
  Stats,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { type LambdaFunction, METRICS_NAMESPACE } from "./lambda-function.js";
import type { AlarmOptions } from "./monitoring.js";

/** What the dashboard and the alarms watch of the webhook path. */
export interface WebhookMonitoringTargets {
  readonly receiver: LambdaFunction;
  readonly worker: LambdaFunction;
  /** The poll function: its charging starts are what webhooks should have told us first. */
  readonly poll: LambdaFunction;
  /** Alarm when no webhook verified for this long while the poll saw charging start. */
  readonly silenceAlarmMinutes: number;
}

type AlarmFactory = (slug: string, options: AlarmOptions) => Alarm;

/**
 * The webhook rows of the dashboard, and the alarm for a silent endpoint: the poll publishes
 * charging starts itself only when no webhook told us first, so verified webhooks at zero while
 * the poll keeps seeing charging start means a broken endpoint or a rotated secret.
 */
export function webhookWidgets(
  targets: WebhookMonitoringTargets,
  alarm: AlarmFactory,
): IWidget[][] {
  const period = Duration.minutes(5);
  const silence = Duration.minutes(targets.silenceAlarmMinutes);
  const metric = (
    fn: LambdaFunction,
    name: string,
    statistic: string,
    label?: string,
    p = period,
  ) =>
    new Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: { service: fn.serviceName },
      statistic,
      period: p,
      ...(label ? { label } : {}),
    });
  const { receiver, worker, poll } = targets;
  alarm("webhooks-silent", {
    description: `No ev.energy webhook was verified in ${targets.silenceAlarmMinutes} minutes while the poll saw chargers start charging (at least 3): the endpoint is unreachable, its signing secret was rotated without updating ours, or ev.energy stopped sending.`,
    metric: new MathExpression({
      expression: "IF(FILL(starts, 0) >= 3 AND FILL(verified, 0) == 0, 1, 0)",
      usingMetrics: {
        starts: metric(poll, "PollChargingStarts", Stats.SUM, undefined, silence),
        verified: metric(receiver, "WebhooksVerified", Stats.SUM, undefined, silence),
      },
      period: silence,
    }),
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  return [
    [
      new GraphWidget({
        title: "Webhooks: received, verified, rejected",
        left: [
          metric(receiver, "WebhooksReceived", Stats.SUM, "Received"),
          metric(receiver, "WebhooksVerified", Stats.SUM, "Verified"),
          metric(receiver, "WebhooksRejected", Stats.SUM, "Rejected (401/405/413)"),
          metric(receiver, "WebhooksEnqueueFailed", Stats.SUM, "Not queued (503)"),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: "Webhook worker: refreshes, duplicates, budget fallbacks, retries",
        left: [
          metric(worker, "WebhookRefreshes", Stats.SUM, "Refreshes (requests out of the share)"),
          metric(worker, "WebhookDuplicates", Stats.SUM, "Duplicates"),
          metric(
            worker,
            "WebhookBudgetFallbacks",
            Stats.SUM,
            "Left to the poll (share spent, 429)",
          ),
          metric(worker, "WebhookRetries", Stats.SUM, "Retried later (sample too old)"),
        ],
        right: [
          metric(worker, "WebhookChanges", Stats.SUM, "Changes published by webhooks"),
          metric(poll, "PollChargingStarts", Stats.SUM, "Charging starts only the poll saw"),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: "Webhook receipt to change on the bus (ms)",
        left: [
          metric(worker, "WebhookReceiptToBusMs", "p50", "p50"),
          metric(worker, "WebhookReceiptToBusMs", "p99", "p99"),
        ],
        width: 8,
      }),
      new GraphWidget({
        title:
          "Webhooks' lead over the poll (s): the poll's read of a change minus the webhook path's",
        left: [
          metric(poll, "WebhookLeadSeconds", "p50", "p50"),
          metric(poll, "WebhookLeadSeconds", "p90", "p90"),
          metric(poll, "WebhookLeadSeconds", Stats.MAXIMUM, "max"),
        ],
        width: 8,
      }),
    ],
  ];
}
