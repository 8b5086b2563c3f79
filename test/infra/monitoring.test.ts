import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLEET_METRICS } from "../../functions/lib/observability.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import {
  getAtt,
  isObject,
  type Json,
  type JsonObject,
  logicalId,
  onlyResource,
  properties,
  resolveCrossStack,
  resourceOf,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

/** Every alarm of a template, by name, with cross-stack references resolved. */
function alarmsByName(stage: SynthesisedStage): Map<string, JsonObject> {
  const found: Record<string, Json> =
    stage.statelessTemplate.findResources("AWS::CloudWatch::Alarm");
  const alarms = new Map<string, JsonObject>();
  for (const resource of Object.values(found)) {
    if (!isObject(resource)) continue;
    const props = resolveCrossStack(properties(resource), stage.statefulTemplate);
    if (!isObject(props) || typeof props.AlarmName !== "string") continue;
    alarms.set(props.AlarmName, props);
  }
  return alarms;
}

function alarm(stage: SynthesisedStage, slug: string): JsonObject {
  const found = alarmsByName(stage).get(`evse-ops-${stage.config.stage}-${slug}`);
  if (found === undefined) throw new Error(`no alarm ${slug}`);
  return found;
}

/** A function's POWERTOOLS_SERVICE_NAME, as deployed. */
function serviceOf(stage: SynthesisedStage, fn: IConstruct): string {
  const props = properties(resourceOf(stage.statelessTemplate, fn));
  const env = isObject(props.Environment) ? props.Environment.Variables : undefined;
  const service = isObject(env) ? env.POWERTOOLS_SERVICE_NAME : undefined;
  if (typeof service !== "string") throw new Error("function has no service name");
  return service;
}

function dashboardBody(template: Template): string {
  return JSON.stringify(
    properties(onlyResource(template, "AWS::CloudWatch::Dashboard")).DashboardBody,
  );
}

describe("monitoring", () => {
  let dev: SynthesisedStage;
  let prod: SynthesisedStage;

  beforeAll(() => {
    dev = synthStage("dev");
    prod = synthStage("prod");
  });

  afterAll(() => {
    dev?.cleanUp();
    prod?.cleanUp();
  });

  describe("alarms", () => {
    it("cover the poll, the decommission path, the webhooks, their queues and the table, named after the stage", () => {
      expect([...alarmsByName(dev).keys()].sort()).toEqual(
        [
          "poll-errors",
          "poll-throttles",
          "poll-failures",
          "poll-schedule-dlq",
          "poll-no-complete-sweep",
          "poll-rate-limit-low",
          "poll-publish-failures",
          "poll-fleet-connectivity-degraded",
          "table-throttles",
          "decommission-api-5xx",
          "decommission-api-errors",
          "decommission-api-throttles",
          "decommission-executor-errors",
          "decommission-executor-throttles",
          "decommission-reconciler-errors",
          "decommission-reconciler-throttles",
          "decommission-dead-letters-errors",
          "decommission-dead-letters-throttles",
          "decommission-execution-dlq",
          "decommission-rule-dlq",
          "decommission-reconciler-failures",
          "decommission-reconciler-schedule-dlq",
          "decommission-failed",
          "decommission-integrity-violation",
          "decommission-dead-lettered",
          "decommission-paused",
          "webhook-receiver-errors",
          "webhook-receiver-throttles",
          "webhook-worker-errors",
          "webhook-worker-throttles",
          "webhook-dlq",
          "webhooks-silent",
        ]
          .map((slug) => `evse-ops-dev-${slug}`)
          .sort(),
      );
    });

    it("all notify the stage's alarm topic when they fire and when they clear", () => {
      for (const stage of [dev, prod]) {
        const topic = { Ref: logicalId(stage.stateful.alarmTopic) };
        for (const [name, props] of alarmsByName(stage)) {
          expect(props.AlarmActions, name).toEqual([topic]);
          expect(props.OKActions, name).toEqual([topic]);
          expect(props.AlarmDescription, name).toMatch(/Runbook: README\.md, section Runbook/);
        }
      }
    });

    it("fire when no sweep completed within the configured window, or the poll sent no data, but not while the poll is switched off", () => {
      for (const [stage, minutes] of [
        [dev, 60],
        [prod, 30],
      ] as const) {
        // A paused run counts here (functions/lib/observability.ts): see the poll tests.
        expect(alarm(stage, "poll-no-complete-sweep")).toMatchObject({
          Namespace: "EvseOps",
          MetricName: "SweepsCompletedOrPaused",
          Dimensions: [
            {
              Name: "service",
              Value: serviceOf(stage, stage.stateless.poller.pollFunction.function),
            },
          ],
          Statistic: "Sum",
          Period: minutes * 60,
          EvaluationPeriods: 1,
          ComparisonOperator: "LessThanThreshold",
          Threshold: 1,
          TreatMissingData: "breaching",
        });
      }
    });

    it("fire when ev.energy's remaining rate limit drops below the threshold", () => {
      expect(alarm(dev, "poll-rate-limit-low")).toMatchObject({
        Namespace: "EvseOps",
        MetricName: "RateLimitRemaining",
        Dimensions: [{ Name: "service", Value: "evse-ops-poller" }],
        Statistic: "Minimum",
        Period: 300,
        ComparisonOperator: "LessThanThreshold",
        Threshold: 100,
        TreatMissingData: "notBreaching",
      });
    });

    it("fire on any event the poll failed to publish", () => {
      expect(alarm(dev, "poll-publish-failures")).toMatchObject({
        Namespace: "EvseOps",
        MetricName: "PublishFailures",
        Dimensions: [{ Name: "service", Value: "evse-ops-poller" }],
        Statistic: "Sum",
        Period: 300,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        Threshold: 1,
      });
    });

    it("fire on any poll error or throttle, per poll interval", () => {
      const fn = { Ref: logicalId(dev.stateless.poller.pollFunction.function) };
      for (const [slug, metricName] of [
        ["poll-errors", "Errors"],
        ["poll-throttles", "Throttles"],
      ] as const) {
        expect(alarm(dev, slug)).toMatchObject({
          Namespace: "AWS/Lambda",
          MetricName: metricName,
          Dimensions: [{ Name: "FunctionName", Value: fn }],
          Statistic: "Sum",
          Period: 300,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
          Threshold: 1,
          TreatMissingData: "notBreaching",
        });
      }
    });

    it("fire on any message in the on-failure queue or the schedule's dead-letter queue", () => {
      const { poller } = dev.stateless;
      for (const [slug, queue] of [
        ["poll-failures", poller.failureQueue],
        ["poll-schedule-dlq", poller.scheduleDeadLetterQueue],
      ] as const) {
        expect(alarm(dev, slug)).toMatchObject({
          Namespace: "AWS/SQS",
          MetricName: "ApproximateNumberOfMessagesVisible",
          Dimensions: [{ Name: "QueueName", Value: getAtt(queue, "QueueName") }],
          Statistic: "Maximum",
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
          Threshold: 1,
        });
      }
    });

    it("fire on DynamoDB throttling of the table or its index in two of three periods", () => {
      const props = alarm(dev, "table-throttles");
      const tableName = { Ref: logicalId(dev.stateful.table) };

      expect(props).toMatchObject({
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        Threshold: 1,
      });
      const metrics = Array.isArray(props.Metrics) ? props.Metrics.filter(isObject) : [];
      const stats = metrics.flatMap((m) => (isObject(m.MetricStat) ? [m.MetricStat] : []));
      const watched = stats.map((stat) => {
        const metric = isObject(stat.Metric) ? stat.Metric : {};
        return { name: metric.MetricName, dimensions: metric.Dimensions, stat: stat.Stat };
      });
      const onTable = [{ Name: "TableName", Value: tableName }];
      const onIndex = [{ Name: "GlobalSecondaryIndexName", Value: "gsi1" }, ...onTable];
      const onOfflineIndex = [{ Name: "GlobalSecondaryIndexName", Value: "gsi2" }, ...onTable];
      expect(watched).toEqual([
        { name: "ReadThrottleEvents", dimensions: onTable, stat: "Sum" },
        { name: "WriteThrottleEvents", dimensions: onTable, stat: "Sum" },
        { name: "ReadThrottleEvents", dimensions: onIndex, stat: "Sum" },
        { name: "WriteThrottleEvents", dimensions: onIndex, stat: "Sum" },
        { name: "ReadThrottleEvents", dimensions: onOfflineIndex, stat: "Sum" },
        { name: "WriteThrottleEvents", dimensions: onOfflineIndex, stat: "Sum" },
      ]);
      const expression = metrics.find((m) => m.ReturnData !== false);
      expect(expression?.Expression).toBe(
        "FILL(t0r, 0) + FILL(t0w, 0) + FILL(t1r, 0) + FILL(t1w, 0) + FILL(t2r, 0) + FILL(t2w, 0)",
      );
    });

    it("fire while the fleet is degraded: the poll reports 1 from the degraded event to the restored one", () => {
      expect(alarm(dev, "poll-fleet-connectivity-degraded")).toMatchObject({
        MetricName: "FleetConnectivityDegraded",
        Namespace: "EvseOps",
        Dimensions: [{ Name: "service", Value: "evse-ops-poller" }],
        Statistic: "Maximum",
        Period: 300,
        EvaluationPeriods: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        Threshold: 1,
        TreatMissingData: "notBreaching",
      });
    });
  });

  it("each have a runbook entry under their name in the README", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const runbook = readme.slice(readme.indexOf("\n## Runbook\n"));
    expect(runbook).not.toBe("");
    const headings = runbook.split("\n").filter((line) => line.startsWith("### "));
    for (const slug of dev.stateless.monitoring.alarms.keys()) {
      const entry = headings.find((heading) =>
        heading.split(/[\s,]+/).some((word) => word === slug),
      );
      expect(entry, slug).toBeDefined();
    }
  });

  describe("decommission alarms", () => {
    it("fire on any decommission that ended FAILED or was refused for integrity, by the executor or by dead-lettering", () => {
      const { decommission } = dev.stateless;
      for (const [slug, metricName, fn] of [
        ["decommission-failed", "DecommissionFailed", decommission.executorFunction.function],
        [
          "decommission-integrity-violation",
          "DecommissionIntegrityViolation",
          decommission.executorFunction.function,
        ],
        [
          "decommission-dead-lettered",
          "DecommissionDeadLettered",
          decommission.deadLetterFunction.function,
        ],
      ] as const) {
        expect(alarm(dev, slug)).toMatchObject({
          Namespace: "EvseOps",
          MetricName: metricName,
          Dimensions: [{ Name: "service", Value: serviceOf(dev, fn) }],
          Statistic: "Sum",
          Period: 300,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
          Threshold: 1,
          TreatMissingData: "notBreaching",
        });
      }
    });

    it("fire when execution stayed paused for the configured hours", () => {
      expect(alarm(dev, "decommission-paused")).toMatchObject({
        Namespace: "EvseOps",
        MetricName: "DecommissionPaused",
        Dimensions: [
          {
            Name: "service",
            Value: serviceOf(dev, dev.stateless.decommission.reconcilerFunction.function),
          },
        ],
        Statistic: "Minimum",
        Period: 24 * 3600,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        Threshold: 1,
      });
    });

    it("fire on any 5xx of the API", () => {
      expect(alarm(dev, "decommission-api-5xx")).toMatchObject({
        Namespace: "AWS/ApiGateway",
        MetricName: "5XXError",
        Dimensions: [{ Name: "ApiName", Value: "evse-ops-dev-decommission" }],
        Statistic: "Sum",
        Threshold: 1,
      });
    });

    it("fire on any message in the execution, rule, and reconciler dead-letter queues", () => {
      const { decommission } = dev.stateless;
      for (const [slug, queue] of [
        ["decommission-execution-dlq", decommission.executionDeadLetterQueue],
        ["decommission-rule-dlq", decommission.executionRuleDeadLetterQueue],
        ["decommission-reconciler-failures", decommission.reconcilerFailureQueue],
        ["decommission-reconciler-schedule-dlq", decommission.reconcilerScheduleDeadLetterQueue],
      ] as const) {
        expect(alarm(dev, slug)).toMatchObject({
          MetricName: "ApproximateNumberOfMessagesVisible",
          Dimensions: [{ Name: "QueueName", Value: getAtt(queue, "QueueName") }],
          Threshold: 1,
        });
      }
    });
  });

  describe("dashboard", () => {
    it("is named after the stage and shows every alarm's state", () => {
      for (const stage of [dev, prod]) {
        stage.statelessTemplate.hasResourceProperties("AWS::CloudWatch::Dashboard", {
          DashboardName: `evse-ops-${stage.config.stage}`,
        });
        const body = dashboardBody(stage.statelessTemplate);
        for (const alarmConstruct of stage.stateless.monitoring.alarms.values()) {
          expect(body).toContain(JSON.stringify(getAtt(alarmConstruct)));
        }
      }
    });

    it("charts every metric the functions emit, and the Lambda, queue, table and API metrics", () => {
      const body = dashboardBody(dev.statelessTemplate);

      for (const name of [
        "PollPages",
        "PollRequests",
        "EvsesSeen",
        "DroppedItems",
        "Discovered",
        "StatusChanged",
        "ConnectivityChanged",
        "Removed",
        "DeviceWrites",
        "PublishFailures",
        "SweepsCompleted",
        "PollPaused",
        "PollDuration",
        "PollRateLimited",
        "RateLimitRemaining",
        "LedgerRequestsLastHour",
        ...Object.keys(FLEET_METRICS),
        "FleetConnectivityDegraded",
        "Errors",
        "Throttles",
        "Duration",
        "ApproximateNumberOfMessagesVisible",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "DecommissionCompleted",
        "DecommissionFailed",
        "DecommissionExecutionDisabled",
        "DecommissionRetried",
        "DecommissionSkipped",
        "DecommissionIntegrityViolation",
        "DecommissionDeadLettered",
        "DecommissionExpired",
        "DecommissionReEnqueued",
        "DecommissionEventsResent",
        "DecommissionPaused",
        "ApproximateAgeOfOldestMessage",
        "4XXError",
        "5XXError",
        "Latency",
        "Count",
      ]) {
        expect(body, name).toContain(`\\"${name}\\"`);
      }
      expect(body).toContain('\\"EvseOps\\",\\"');
      expect(body).toContain("PERIOD(sweeps) / 60 / sweeps");
    });
  });
});
