import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { AttributeType, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { EventBus } from "aws-cdk-lib/aws-events";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStageConfig } from "../../infra/config.js";
import { Poller } from "../../infra/constructs/poller.js";
import {
  getAtt,
  isObject,
  logicalId,
  type PolicyStatement,
  properties,
  resolveCrossStack,
  resourceOf,
  type SynthesisedStage,
  statementsOfRole,
  synthStage,
} from "./helpers.js";

function sorted(statements: PolicyStatement[]): PolicyStatement[] {
  return statements.map((s) => ({ ...s, actions: [...s.actions].sort() }));
}

describe("poller", () => {
  let dev: SynthesisedStage;
  let prod: SynthesisedStage;

  beforeAll(() => {
    // The one synth that bundles: a test below reads the esbuild output.
    dev = synthStage("dev", undefined, { bundle: true });
    prod = synthStage("prod");
  });

  afterAll(() => {
    dev?.cleanUp();
    prod?.cleanUp();
  });

  function pollFunction(stage: SynthesisedStage) {
    const fn = stage.stateless.poller.pollFunction.function;
    const resource = stage.statelessTemplate.toJSON().Resources[logicalId(fn)];
    if (!isObject(resource)) throw new Error("poll function not in the template");
    return properties(resource);
  }

  describe("function", () => {
    it("runs Node.js 24 on arm64 with a bounded timeout, 512 MB and active tracing", () => {
      for (const stage of [dev, prod]) {
        expect(pollFunction(stage)).toMatchObject({
          Runtime: "nodejs24.x",
          Architectures: ["arm64"],
          Handler: "index.handler",
          Timeout: 240,
          MemorySize: 512,
          TracingConfig: { Mode: "Active" },
          LoggingConfig: {
            LogFormat: "JSON",
            LogGroup: { Ref: logicalId(stage.stateless.poller.pollFunction.logGroup) },
          },
        });
        expect(pollFunction(stage).ReservedConcurrentExecutions).toBeUndefined();
      }
    });

    it("logs to its own log group, kept 14 days in dev and 90 in prod", () => {
      dev.statelessTemplate.hasResource("AWS::Logs::LogGroup", {
        Properties: { RetentionInDays: 14 },
        DeletionPolicy: "Delete",
      });
      prod.statelessTemplate.hasResource("AWS::Logs::LogGroup", {
        Properties: { RetentionInDays: 90 },
        DeletionPolicy: "Retain",
      });
    });

    it("gets the settings the poll handler reads, from the stage's configuration", () => {
      const env = pollFunction(dev).Environment;
      const variables = isObject(env) ? env.Variables : undefined;
      const { stateful, statefulTemplate } = dev;

      expect(resolveCrossStack(variables, statefulTemplate)).toEqual({
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_SERVICE_NAME: "evse-ops-poller",
        POWERTOOLS_METRICS_NAMESPACE: "EvseOps",
        POWERTOOLS_LOG_LEVEL: "INFO",
        TABLE_NAME: { Ref: logicalId(stateful.table) },
        EVENT_BUS_NAME: { Ref: logicalId(stateful.bus) },
        EVENT_SOURCE: "evse-ops",
        EVENERGY_API_URL: "https://api.ev.energy/v2",
        EVENERGY_TOKEN_URL: "https://api.ev.energy/o/token/",
        EVENERGY_SCOPE: "evse:read",
        EVENERGY_SECRET_ID: { Ref: logicalId(stateful.readSecret) },
        STALENESS_MINUTES: "15",
        CHARGE_RATE_THRESHOLD_WATTS: "500",
        HEARTBEAT_MINUTES: "60",
        BUDGET_SHARE: "0.8",
        // The webhook path's share, out of BUDGET_SHARE: the poll spends 0.7 of the limit.
        WEBHOOK_BUDGET_SHARE: "0.1",
        RESERVE_REQUESTS: "50",
        RATE_LIMIT_DEFAULT: "1000",
        SCHEDULE_MINUTES: "5",
        POLL_START_PAUSED: "true",
        HISTORY_RETENTION_DAYS: "90",
        FLEET_DEGRADED_SHARE: "0.2",
      });
    });

    it("is bundled by esbuild as a minified ES module with a source map", () => {
      const location = pollFunction(dev).Code;
      const key = isObject(location) ? location.S3Key : undefined;
      expect(typeof key).toBe("string");
      const bundle = `asset.${String(key).replace(/\.zip$/, "")}`;
      expect(readdirSync(dev.outdir)).toContain(bundle);

      const code = readFileSync(join(dev.outdir, bundle, "index.mjs"), "utf8");

      expect(code.startsWith("import { createRequire as __createRequire }")).toBe(true);
      expect(code).toMatch(/export\s*\{[^}]*\bas handler\b|export\s*\{\s*handler\b/);
      expect(code).toContain("//# sourceMappingURL=index.mjs.map");
      expect(existsSync(join(dev.outdir, bundle, "index.mjs.map"))).toBe(true);
    });
  });

  describe("schedule", () => {
    it("starts the poll at the configured rate and retries a failed delivery within one interval", () => {
      const { stateless, statelessTemplate } = dev;
      statelessTemplate.hasResourceProperties("AWS::Scheduler::Schedule", {
        ScheduleExpression: "rate(5 minutes)",
        State: "ENABLED",
        Target: Match.objectLike({
          Arn: getAtt(stateless.poller.pollFunction.function),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
          DeadLetterConfig: { Arn: getAtt(stateless.poller.scheduleDeadLetterQueue) },
        }),
      });
    });

    it("uses a role that may only invoke the poll function and fill the dead-letter queue", () => {
      const { stateless, statelessTemplate, statefulTemplate } = dev;
      const role = stateless.node.findChild("Poller").node.findChild("ScheduleRole");
      const fn = stateless.poller.pollFunction.function;

      const statements = statementsOfRole(statelessTemplate, logicalId(role), statefulTemplate);

      expect(sorted(statements)).toEqual([
        {
          actions: ["lambda:InvokeFunction"],
          resources: [getAtt(fn), { "Fn::Join": ["", [getAtt(fn), ":*"]] }],
        },
        {
          actions: ["sqs:SendMessage"],
          resources: [getAtt(stateless.poller.scheduleDeadLetterQueue)],
        },
      ]);
      statelessTemplate.hasResourceProperties("AWS::IAM::Role", {
        AssumeRolePolicyDocument: {
          Statement: [
            Match.objectLike({
              Principal: { Service: "scheduler.amazonaws.com" },
              Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
            }),
          ],
        },
      });
    });
  });

  describe("failed runs", () => {
    it("are not retried by Lambda and land in the on-failure queue", () => {
      const { stateless, statelessTemplate } = dev;
      statelessTemplate.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: logicalId(stateless.poller.pollFunction.function) },
        MaximumRetryAttempts: 0,
        DestinationConfig: {
          OnFailure: { Destination: getAtt(stateless.poller.failureQueue) },
        },
      });
    });

    it("go to queues encrypted by SQS that refuse non-TLS access", () => {
      const { stateless, statelessTemplate } = dev;
      for (const queue of [
        stateless.poller.failureQueue,
        stateless.poller.scheduleDeadLetterQueue,
      ]) {
        expect(properties(resourceOf(statelessTemplate, queue))).toMatchObject({
          SqsManagedSseEnabled: true,
          MessageRetentionPeriod: 14 * 24 * 3600,
        });
        statelessTemplate.hasResourceProperties("AWS::SQS::QueuePolicy", {
          Queues: [{ Ref: logicalId(queue) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: "Deny",
                Condition: { Bool: { "aws:SecureTransport": "false" } },
              }),
            ]),
          },
        });
      }
    });
  });

  describe("permissions of the poll function", () => {
    it("are exactly: its logs, X-Ray, the read secret, its own items, the bus and its failure queue", () => {
      for (const { stateful, stateless, statelessTemplate, statefulTemplate } of [dev, prod]) {
        const poller = stateless.poller;
        const tableArn = getAtt(stateful.table);

        const statements = statementsOfRole(
          statelessTemplate,
          logicalId(poller.pollFunction.role),
          statefulTemplate,
        );

        expect(sorted(statements)).toEqual([
          {
            actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
            resources: [getAtt(poller.pollFunction.logGroup)],
          },
          {
            actions: ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            resources: ["*"],
          },
          {
            actions: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            resources: [{ Ref: logicalId(stateful.readSecret) }],
          },
          ...(
            [
              [["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], ["EVSE"]],
              [["dynamodb:UpdateItem"], ["POLL", "AVAIL#*"]],
              [["dynamodb:Query", "dynamodb:UpdateItem"], ["LEDGER"]],
              // Fleet health: history entries and the snapshot put, rollups appended (above).
              [["dynamodb:PutItem"], ["HIST#*", "FLEET"]],
              [["dynamodb:GetItem"], ["CONTROL"]],
            ] as const
          ).map(([actions, partitions]) => ({
            actions: [...actions],
            resources: [tableArn],
            condition: {
              [partitions.some((key) => key.endsWith("*"))
                ? "ForAllValues:StringLike"
                : "ForAllValues:StringEquals"]: { "dynamodb:LeadingKeys": [...partitions] },
              Null: { "dynamodb:LeadingKeys": "false" },
            },
          })),
          {
            actions: ["events:PutEvents"],
            resources: [getAtt(stateful.bus)],
            condition: {
              "ForAllValues:StringEquals": {
                "events:source": ["evse-ops"],
                "events:detail-type": [
                  "EVSE Discovered",
                  "EVSE Status Changed",
                  "EVSE Connectivity Changed",
                  "EVSE Removed",
                  "EVSE Fleet Connectivity Degraded",
                  "EVSE Fleet Connectivity Restored",
                ],
              },
            },
          },
          {
            actions: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
            resources: [getAtt(poller.failureQueue)],
          },
        ]);
      }
    });

    it("never reach the write secret, in its policies or its settings", () => {
      const { stateful, stateless, statelessTemplate, statefulTemplate } = dev;
      const poller = JSON.stringify([
        statementsOfRole(
          statelessTemplate,
          logicalId(stateless.poller.pollFunction.role),
          statefulTemplate,
        ),
        resolveCrossStack(pollFunction(dev), statefulTemplate),
      ]);

      expect(poller).toContain(logicalId(stateful.readSecret));
      expect(poller).not.toContain(logicalId(stateful.writeSecret));
    });
  });

  describe("timeout guard", () => {
    function pollerWithTimeout(scheduleMinutes: number, timeoutSeconds: number): () => Poller {
      const stack = new Stack(new App(), "Guard");
      const config = parseStageConfig("dev", {
        dev: { logRetentionDays: 14, removalPolicy: "destroy" },
      });
      return () =>
        new Poller(stack, "Poller", {
          stage: "dev",
          poll: { ...config.poll, scheduleMinutes, timeoutSeconds },
          evEnergy: config.evEnergy,
          eventSource: config.events.source,
          logRetention: config.logRetentionDays,
          removalPolicy: config.removalPolicy,
          table: new TableV2(stack, "Table", {
            partitionKey: { name: "pk", type: AttributeType.STRING },
          }),
          bus: new EventBus(stack, "Bus"),
          readSecret: new Secret(stack, "Secret"),
        });
    }

    it("fails synth when the function timeout is not shorter than the schedule interval", () => {
      expect(pollerWithTimeout(5, 300)).toThrow(
        "Poller: the poll function's timeout (300 s) must be shorter than the schedule interval (300 s)",
      );
      expect(pollerWithTimeout(1, 900)).toThrow(/timeout \(900 s\) must be shorter/);
    });
  });
});
