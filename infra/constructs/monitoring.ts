import { Duration } from "aws-cdk-lib";
import type { RestApi } from "aws-cdk-lib/aws-apigateway";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  Stats,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { MonitoringSettings } from "../config.js";
import { type LambdaFunction, METRICS_NAMESPACE } from "./lambda-function.js";
import type { Poller } from "./poller.js";
import { type WebhookMonitoringTargets, webhookWidgets } from "./webhook-monitoring.js";

/** A function to chart, with alarms on its errors and throttles. */
export interface MonitoredFunction {
  /** Short lower-case name used in alarm names, e.g. `executor`. */
  readonly slug: string;
  readonly title: string;
  readonly function: LambdaFunction;
  /** The period its alarms look at; default five minutes. */
  readonly alarmPeriod?: Duration;
}

/** A queue to chart; a dead-letter queue also alarms on any visible message. */
export interface MonitoredQueue {
  readonly slug: string;
  readonly title: string;
  readonly queue: IQueue;
}

/** A metric a function emits itself (namespace EvseOps, dimension `service`). */
export interface AppMetric {
  readonly source: LambdaFunction;
  readonly metricName: string;
  readonly label: string;
}

/** An app metric whose every occurrence (sum ≥ 1 in five minutes) alarms. */
export interface FailureMetric extends AppMetric {
  readonly slug: string;
  readonly description: string;
}

/**
 * The decommission pieces. Every list may be empty; the construct charts and alarms on
 * whatever it is given.
 */
export interface DecommissionMonitoringTargets {
  /** The REST API: requests, 4xx, 5xx and latency charted, 5xx alarmed. */
  readonly api?: RestApi;
  /** Errors and throttles alarmed, durations charted. */
  readonly functions: readonly MonitoredFunction[];
  /** Queues work waits in: depth and age charted. */
  readonly workQueues: readonly MonitoredQueue[];
  /** Queues that only receive failures: any visible message alarms. */
  readonly deadLetterQueues: readonly MonitoredQueue[];
  /** Decommissions by outcome, charted together. */
  readonly outcomes: readonly AppMetric[];
  /** Outcomes that alarm whenever they occur (a decommission that FAILED). */
  readonly failures: readonly FailureMetric[];
  /** 1 while execution is paused: alarms after `monitoring.pausedAlarmHours`. */
  readonly paused?: AppMetric;
}

export interface MonitoringProps {
  readonly stage: string;
  readonly settings: MonitoringSettings;
  /** How often the poll runs: the period of the poll's alarms and charts. */
  readonly pollIntervalMinutes: number;
  /** Every alarm notifies this topic, when it fires and when it clears. */
  readonly alarmTopic: ITopic;
  readonly table: ITableV2;
  /** The table's secondary indexes, whose throttles count too. */
  readonly tableIndexes: readonly string[];
  readonly poller: Poller;
  readonly decommission?: DecommissionMonitoringTargets;
  /** The webhook path: its functions, queues, charts and the silent-endpoint alarm. */
  readonly webhooks?: WebhookMonitoringTargets & {
    readonly functions: readonly MonitoredFunction[];
    readonly deadLetterQueues: readonly MonitoredQueue[];
  };
}

const TABLE_THROTTLE_METRICS = ["ReadThrottleEvents", "WriteThrottleEvents"] as const;

/**
 * One dashboard and every alarm of a stage. Each alarm is named `evse-ops-<stage>-<slug>`, has a
 * runbook entry under that slug in the README, and notifies the alarm topic when it
 * fires and when it clears.
 *
 * The functions' own metrics come from Powertools EMF in the namespace EvseOps with the dimension
 * `service` = the function's POWERTOOLS_SERVICE_NAME.
 */
/** One alarm as the monitoring construct makes it (see its `alarm`). */
export interface AlarmOptions {
  description: string;
  metric: IMetric;
  threshold: number;
  comparisonOperator?: ComparisonOperator;
  treatMissingData?: TreatMissingData;
  evaluationPeriods?: number;
  datapointsToAlarm?: number;
}

export class Monitoring extends Construct {
  readonly dashboard: Dashboard;
  /** Every alarm, by slug. */
  readonly alarms = new Map<string, Alarm>();

  private readonly prefix: string;
  private readonly action: SnsAction;
  private readonly pollPeriod: Duration;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.prefix = `evse-ops-${props.stage}`;
    this.action = new SnsAction(props.alarmTopic);
    this.pollPeriod = Duration.minutes(props.pollIntervalMinutes);

    const sections: IWidget[][] = [
      ...this.pollSection(props),
      ...this.fleetSection(props),
      this.tableSection(props),
      ...(props.decommission ? this.decommissionSection(props.decommission, props.settings) : []),
      ...(props.webhooks
        ? webhookWidgets(props.webhooks, (slug, options) => this.alarm(slug, options))
        : []),
    ];
    const functions: MonitoredFunction[] = [
      // One run per period: a failed run is one error.
      {
        slug: "poll",
        title: "Poll",
        function: props.poller.pollFunction,
        alarmPeriod: this.pollPeriod,
      },
      ...(props.decommission?.functions ?? []),
      ...(props.webhooks?.functions ?? []),
    ];
    const queues: MonitoredQueue[] = [
      { slug: "poll-failures", title: "Poll on-failure", queue: props.poller.failureQueue },
      {
        slug: "poll-schedule-dlq",
        title: "Poll schedule DLQ",
        queue: props.poller.scheduleDeadLetterQueue,
      },
      ...(props.decommission?.deadLetterQueues ?? []),
      ...(props.webhooks?.deadLetterQueues ?? []),
    ];
    sections.push(this.functionsSection(functions), [this.deadLetterSection(queues)]);

    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: this.prefix,
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# evse-ops ${props.stage}\nAlarms notify the alarm topic; each has a runbook entry in the README (Runbook) under its name.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: "Alarms",
        alarms: [...this.alarms.values()],
        width: 24,
        height: Math.max(2, Math.ceil(this.alarms.size / 4) + 1),
      }),
    );
    for (const row of sections) this.dashboard.addWidgets(...row);
  }

  // ------------------------------------------------------------------ sections

  private pollSection(props: MonitoringProps): IWidget[][] {
    const { settings, poller } = props;
    const fn = poller.pollFunction;
    const period = this.pollPeriod;
    const hour = Duration.hours(1);
    const metric = (name: string, statistic: string, label: string, p = period) =>
      appMetric(fn, name, { statistic, period: p, label });
    // Alarms take unlabelled metrics, so each renders as a plain MetricName/Statistic alarm.
    const alarmMetric = (name: string, statistic: string, p = period) =>
      appMetric(fn, name, { statistic, period: p });

    // Runs that completed a sweep or found the poll switch paused: a deliberately paused poll
    // does not alarm; one that runs without completing, or does not run at all, does.
    this.alarm("poll-no-complete-sweep", {
      description: `No sweep of the whole fleet completed in ${settings.noCompleteSweepMinutes} minutes while the poll was switched on (no data counts: a poll that never runs completes nothing; a paused poll does not alarm).`,
      metric: alarmMetric(
        "SweepsCompletedOrPaused",
        Stats.SUM,
        Duration.minutes(settings.noCompleteSweepMinutes),
      ),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
    });
    this.alarm("poll-rate-limit-low", {
      description: `ev.energy reported fewer than ${settings.rateLimitRemainingThreshold} requests left in its rate-limit window.`,
      metric: alarmMetric("RateLimitRemaining", Stats.MINIMUM),
      threshold: settings.rateLimitRemainingThreshold,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
    });
    this.alarm("poll-publish-failures", {
      description:
        "The poll could not publish change events on the bus; those changes are retried on the next run, but subscribers are behind.",
      metric: alarmMetric("PublishFailures", Stats.SUM),
      threshold: 1,
    });

    return [
      [
        new GraphWidget({
          title: "Poll switch (1 = paused; README: Start the poll)",
          left: [metric("PollPaused", Stats.MAXIMUM, "Poll paused (1 = yes)")],
          leftYAxis: { min: 0, max: 1 },
          width: 6,
        }),
        new GraphWidget({
          title: "Sweeps completed (per hour) and minutes per sweep",
          left: [metric("SweepsCompleted", Stats.SUM, "Sweeps completed", hour)],
          right: [
            new MathExpression({
              expression: "IF(sweeps > 0, PERIOD(sweeps) / 60 / sweeps)",
              usingMetrics: { sweeps: metric("SweepsCompleted", Stats.SUM, "Sweeps", hour) },
              label: "Minutes per complete sweep",
              period: hour,
            }),
          ],
          width: 6,
        }),
        new GraphWidget({
          title: "EVSEs seen, pages and requests per run",
          left: [metric("EvsesSeen", Stats.SUM, "EVSEs seen")],
          right: [
            metric("PollPages", Stats.SUM, "Pages"),
            metric("PollRequests", Stats.SUM, "Requests to ev.energy"),
          ],
          width: 6,
        }),
        new GraphWidget({
          title: "Changes by type",
          left: [
            metric("Discovered", Stats.SUM, "Discovered"),
            metric("StatusChanged", Stats.SUM, "Status changed"),
            metric("ConnectivityChanged", Stats.SUM, "Connectivity changed"),
            metric("Removed", Stats.SUM, "Removed"),
          ],
          right: [metric("DeviceWrites", Stats.SUM, "Device writes")],
          stacked: true,
          width: 6,
        }),
      ],
      [
        new GraphWidget({
          title: "ev.energy rate limit: our ledger (last hour) and what remains",
          left: [
            metric("LedgerRequestsLastHour", Stats.MAXIMUM, "Ledger: our requests, last hour"),
            metric("RateLimitRemaining", Stats.MINIMUM, "Rate limit remaining (min)"),
          ],
          leftAnnotations: [
            { value: settings.rateLimitRemainingThreshold, label: "Alarm: remaining below" },
          ],
          width: 8,
        }),
        new GraphWidget({
          title: "Runs ended by 429, publish failures, dropped items",
          left: [
            metric("PollRateLimited", Stats.SUM, "Runs ended by 429 (rate limited)"),
            metric("PublishFailures", Stats.SUM, "Publish failures"),
            metric("DroppedItems", Stats.SUM, "Dropped (invalid) items"),
          ],
          width: 8,
        }),
        new GraphWidget({
          title: "Poll run duration",
          left: [
            metric("PollDuration", Stats.MAXIMUM, "Max run (ms)"),
            metric("PollDuration", Stats.AVERAGE, "Average run (ms)"),
          ],
          width: 8,
        }),
      ],
    ];
  }

  /**
   * The fleet as each complete sweep saw it (the poll emits the snapshot when a run completes a
   * sweep), and the fleet-wide alert: 1 while the fleet is degraded, from every run.
   */
  private fleetSection({ settings, poller }: MonitoringProps): IWidget[][] {
    const fn = poller.pollFunction;
    // A window that holds at least one complete sweep when the poll is healthy.
    const period = Duration.minutes(settings.noCompleteSweepMinutes);
    const metric = (name: string, label: string, statistic: string = Stats.AVERAGE) =>
      appMetric(fn, name, { statistic, period, label });
    this.alarm("poll-fleet-connectivity-degraded", {
      description:
        "A large share of the fleet went offline within one sweep (EVSE Fleet Connectivity Degraded): an ev.energy data delay or a real outage. Clears with EVSE Fleet Connectivity Restored.",
      metric: appMetric(fn, "FleetConnectivityDegraded", {
        statistic: Stats.MAXIMUM,
        period: this.pollPeriod,
      }),
      threshold: 1,
    });
    return [
      [
        new SingleValueWidget({
          title: "Fleet now (last complete sweep)",
          metrics: [
            metric("FleetActive", "EVSEs", Stats.MAXIMUM),
            metric("FleetOnline", "Online", Stats.MAXIMUM),
            metric("FleetOffline", "Offline", Stats.MAXIMUM),
            metric("FleetCharging", "Charging", Stats.MAXIMUM),
            metric("FleetChargePowerWatts", "Charge power (W)", Stats.MAXIMUM),
          ],
          width: 24,
        }),
      ],
      [
        new GraphWidget({
          title: "Fleet by connectivity",
          left: [
            metric("FleetOnline", "Online"),
            metric("FleetOffline", "Offline"),
            metric("FleetUnknown", "Unknown (never reported)"),
          ],
          stacked: true,
          width: 8,
        }),
        new GraphWidget({
          title: "Plugged in and charging (online EVSEs); power (W)",
          left: [metric("FleetPluggedIn", "Plugged in"), metric("FleetCharging", "Charging")],
          right: [
            metric("FleetChargePowerWatts", "Charge power (W)"),
            metric("FleetExportPowerWatts", "Export power (W)"),
          ],
          width: 8,
        }),
        new GraphWidget({
          title: "Fleet connectivity degraded (1 = yes); newly offline per sweep",
          left: [
            appMetric(fn, "FleetConnectivityDegraded", {
              statistic: Stats.MAXIMUM,
              period: this.pollPeriod,
              label: "Degraded",
            }),
          ],
          right: [metric("FleetNewlyOffline", "Newly offline in the sweep", Stats.MAXIMUM)],
          leftYAxis: { min: 0, max: 1 },
          width: 8,
        }),
      ],
      [
        new GraphWidget({
          title: "Fleet by lifecycle",
          left: [
            metric("FleetActive", "Active"),
            metric("FleetRemoved", "Removed"),
            metric("FleetDecommissioned", "Decommissioned"),
          ],
          width: 12,
        }),
        new GraphWidget({
          title: "Active EVSEs by lock mode",
          left: [
            metric("FleetLockUnlocked", "UNLOCKED"),
            metric("FleetLockSmart", "SMART"),
            metric("FleetLockLocked", "LOCKED"),
            metric("FleetLockNone", "None"),
          ],
          stacked: true,
          width: 12,
        }),
      ],
    ];
  }

  private tableSection({ table, tableIndexes }: MonitoringProps): IWidget[] {
    const usingMetrics: Record<string, IMetric> = {};
    const parts: string[] = [];
    const scopes: Array<Record<string, string> | undefined> = [
      undefined,
      ...tableIndexes.map((index) => ({ GlobalSecondaryIndexName: index })),
    ];
    scopes.forEach((extra, scopeIndex) => {
      for (const name of TABLE_THROTTLE_METRICS) {
        const key = `t${scopeIndex}${name === "ReadThrottleEvents" ? "r" : "w"}`;
        usingMetrics[key] = table.metric(name, {
          statistic: Stats.SUM,
          period: this.pollPeriod,
          dimensionsMap: { TableName: table.tableName, ...extra },
        });
        parts.push(`FILL(${key}, 0)`);
      }
    });
    const throttles = new MathExpression({
      expression: parts.join(" + "),
      usingMetrics,
      label: "Throttle events (table and indexes, read and write)",
      period: this.pollPeriod,
    });
    this.alarm("table-throttles", {
      description:
        "DynamoDB throttled reads or writes of the state table in two of the last three periods: the SDK retries, but sustained throttling slows the poll and decommissions.",
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    return [
      new GraphWidget({
        title: "DynamoDB throttles",
        left: [throttles],
        width: 12,
      }),
      new GraphWidget({
        title: "DynamoDB latency (ms)",
        left: [
          table.metricSuccessfulRequestLatency({
            dimensionsMap: { TableName: table.tableName, Operation: "Query" },
            statistic: Stats.p(99),
            label: "Query p99",
          }),
          table.metricSuccessfulRequestLatency({
            dimensionsMap: { TableName: table.tableName, Operation: "PutItem" },
            statistic: Stats.p(99),
            label: "PutItem p99",
          }),
          table.metricSuccessfulRequestLatency({
            dimensionsMap: { TableName: table.tableName, Operation: "UpdateItem" },
            statistic: Stats.p(99),
            label: "UpdateItem p99",
          }),
        ],
        width: 12,
      }),
    ];
  }

  private decommissionSection(
    targets: DecommissionMonitoringTargets,
    settings: MonitoringSettings,
  ): IWidget[][] {
    const rows: IWidget[][] = [];
    const first: IWidget[] = [];
    const fiveMinutes = Duration.minutes(5);
    if (targets.outcomes.length > 0) {
      first.push(
        new GraphWidget({
          title: "Decommissions by outcome",
          left: targets.outcomes.map(({ source, metricName, label }) =>
            appMetric(source, metricName, { statistic: Stats.SUM, period: fiveMinutes, label }),
          ),
          width: 8,
        }),
      );
    }
    for (const failure of targets.failures) {
      this.alarm(failure.slug, {
        description: failure.description,
        metric: appMetric(failure.source, failure.metricName, {
          statistic: Stats.SUM,
          period: fiveMinutes,
        }),
        threshold: 1,
      });
    }
    const { paused } = targets;
    if (paused !== undefined) {
      const hours = settings.pausedAlarmHours;
      this.alarm("decommission-paused", {
        description: `Decommission execution has been paused for ${hours} hours: approved requests are waiting. Release the switch, or acknowledge that it is meant.`,
        // The reconciler reports the switch every run; paused all window long = minimum 1.
        metric: appMetric(paused.source, paused.metricName, {
          statistic: Stats.MINIMUM,
          period: Duration.hours(hours),
        }),
        threshold: 1,
      });
      first.push(
        new GraphWidget({
          title: "Pause switch",
          left: [
            appMetric(paused.source, paused.metricName, {
              statistic: Stats.MAXIMUM,
              period: fiveMinutes,
              label: paused.label,
            }),
          ],
          leftYAxis: { min: 0, max: 1 },
          width: 8,
        }),
      );
    }
    if (targets.workQueues.length > 0) {
      first.push(
        new GraphWidget({
          title: "Work queues: depth and oldest message",
          left: targets.workQueues.map(({ title, queue }) =>
            queue.metricApproximateNumberOfMessagesVisible({
              statistic: Stats.MAXIMUM,
              period: Duration.minutes(1),
              label: `${title}: visible`,
            }),
          ),
          right: targets.workQueues.map(({ title, queue }) =>
            queue.metricApproximateAgeOfOldestMessage({
              statistic: Stats.MAXIMUM,
              period: Duration.minutes(1),
              label: `${title}: oldest (s)`,
            }),
          ),
          width: 8,
        }),
      );
    }
    if (first.length > 0) rows.push(first);

    const { api } = targets;
    if (api !== undefined) {
      this.alarm("decommission-api-5xx", {
        description: "The decommission API answered with a 5xx.",
        metric: api.metricServerError({ statistic: Stats.SUM, period: fiveMinutes }),
        threshold: 1,
      });
      rows.push([
        new GraphWidget({
          title: "Decommission API: requests, 4xx, 5xx",
          left: [
            api.metricCount({ statistic: Stats.SUM, period: fiveMinutes, label: "Requests" }),
            api.metricClientError({ statistic: Stats.SUM, period: fiveMinutes, label: "4xx" }),
            api.metricServerError({ statistic: Stats.SUM, period: fiveMinutes, label: "5xx" }),
          ],
          width: 12,
        }),
        new GraphWidget({
          title: "Decommission API latency (ms)",
          left: [
            api.metricLatency({ statistic: Stats.p(50), period: fiveMinutes, label: "p50" }),
            api.metricLatency({ statistic: Stats.p(99), period: fiveMinutes, label: "p99" }),
          ],
          width: 12,
        }),
      ]);
    }
    return rows;
  }

  private functionsSection(functions: readonly MonitoredFunction[]): IWidget[] {
    const period = Duration.minutes(5);
    for (const { slug, title, function: fn, alarmPeriod = period } of functions) {
      this.alarm(`${slug}-errors`, {
        description: `The ${title} function failed (its invocation threw or timed out).`,
        metric: fn.function.metricErrors({ statistic: Stats.SUM, period: alarmPeriod }),
        threshold: 1,
      });
      this.alarm(`${slug}-throttles`, {
        description: `Lambda throttled the ${title} function: the account or region ran out of concurrency.`,
        metric: fn.function.metricThrottles({ statistic: Stats.SUM, period: alarmPeriod }),
        threshold: 1,
      });
    }
    return [
      new GraphWidget({
        title: "Lambda errors and throttles",
        left: functions.flatMap(({ title, function: fn }) => [
          fn.function.metricErrors({ statistic: Stats.SUM, period, label: `${title} errors` }),
          fn.function.metricThrottles({
            statistic: Stats.SUM,
            period,
            label: `${title} throttles`,
          }),
        ]),
        width: 12,
      }),
      new GraphWidget({
        title: "Lambda duration, max (ms)",
        left: functions.map(({ title, function: fn }) =>
          fn.function.metricDuration({ statistic: Stats.MAXIMUM, period, label: title }),
        ),
        width: 12,
      }),
    ];
  }

  private deadLetterSection(queues: readonly MonitoredQueue[]): IWidget {
    const period = Duration.minutes(5);
    for (const { slug, title, queue } of queues) {
      this.alarm(slug, {
        description: `A message is waiting in ${title}: something failed and was parked there for an operator.`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          period,
        }),
        threshold: 1,
      });
    }
    return new GraphWidget({
      title: "Dead-letter and on-failure queues: messages waiting",
      left: queues.map(({ title, queue }) =>
        queue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          period,
          label: title,
        }),
      ),
      width: 24,
    });
  }

  // ------------------------------------------------------------------ helpers

  private alarm(slug: string, options: AlarmOptions): Alarm {
    if (this.alarms.has(slug)) throw new Error(`Monitoring: two alarms named ${slug}`);
    const alarm = new Alarm(this, `Alarm-${slug}`, {
      alarmName: `${this.prefix}-${slug}`,
      alarmDescription: `${options.description} Runbook: README.md, section Runbook, "${slug}".`,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator:
        options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      datapointsToAlarm: options.datapointsToAlarm,
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.set(slug, alarm);
    return alarm;
  }
}

/** A metric the function emits itself through Powertools (EMF). */
function appMetric(
  fn: LambdaFunction,
  metricName: string,
  options: { statistic: string; period: Duration; label?: string },
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: fn.serviceName },
    ...options,
  });
}
