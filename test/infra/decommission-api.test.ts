import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Match } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/api/routes.js";
import { compileApproverPatterns } from "../../functions/core/decommission/approvers.js";
import { EXECUTION_REQUESTED } from "../../functions/core/decommission/model.js";
import {
  DECOMMISSION_DETAIL_TYPES,
  EXECUTION_REQUESTED_DETAIL_TYPE,
} from "../../infra/constructs/bus-publishing.js";
import { GATEWAY_PROBLEMS } from "../../infra/constructs/decommission-api.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import {
  committedStage,
  concreteValue,
  DEPLOYED,
  getAtt,
  isObject,
  type Json,
  type JsonObject,
  logicalId,
  properties,
  resolveCrossStack,
  resourceOf,
  type SynthesisedStage,
  statementsOfRole,
  synthStage,
} from "./helpers.js";

const OTHER_ACCOUNT = "210987654321";
const CALLER_ACCOUNT = "123456789012";
const ORGANIZATION = "o-a1b2c3d4e5";

/** prod, admitting two named accounts and an organisation, with an existing logging role. */
function variantSettings(): JsonObject {
  const settings = committedStage("prod");
  const decommission = isObject(settings.decommission) ? settings.decommission : {};
  const api = isObject(decommission.api) ? decommission.api : {};
  return {
    ...settings,
    decommission: {
      ...decommission,
      allowedAccounts: [CALLER_ACCOUNT, OTHER_ACCOUNT],
      organizationId: ORGANIZATION,
      startPaused: true,
      api: { ...api, accountLoggingRole: "existing" },
    },
  };
}

function executorRole(decommission: SynthesisedStage["stateless"]["decommission"]): IConstruct {
  const role = decommission.executorFunction.function.role;
  if (!role) throw new Error("the executor has no role");
  return role;
}

/** The approver role the stage creates (every stage here does). */
function approverRole(stage: SynthesisedStage): IConstruct {
  const role = stage.stateless.approvers.role;
  if (role === undefined) throw new Error("the stage creates no approver role");
  return role;
}

/**
 * The resources of `type` that belong to the decommission API (the stateless stack also holds
 * the webhook API, whose resources test/infra/webhooks.test.ts checks).
 */
function resources(stage: SynthesisedStage, type: string): JsonObject[] {
  const found: Record<string, Json> = stage.statelessTemplate.findResources(type);
  const api = { Ref: logicalId(stage.stateless.decommission.api) };
  return Object.values(found)
    .filter(isObject)
    .filter((resource) => {
      const restApiId = properties(resource).RestApiId;
      return restApiId === undefined || JSON.stringify(restApiId) === JSON.stringify(api);
    });
}

describe("decommission API", () => {
  let dev: SynthesisedStage;
  let variant: SynthesisedStage;

  beforeAll(() => {
    dev = synthStage("dev");
    variant = synthStage("prod", variantSettings());
  });

  afterAll(() => {
    dev?.cleanUp();
    variant?.cleanUp();
  });

  /** A function's properties, cross-stack references resolved. */
  function fn(stage: SynthesisedStage, construct: IConstruct): JsonObject {
    const props = resolveCrossStack(
      properties(resourceOf(stage.statelessTemplate, construct)),
      stage.statefulTemplate,
    );
    if (!isObject(props)) throw new Error("function has no properties");
    return props;
  }

  function environment(stage: SynthesisedStage, construct: IConstruct): JsonObject {
    const env = fn(stage, construct).Environment;
    const variables = isObject(env) ? env.Variables : undefined;
    if (!isObject(variables)) throw new Error("function has no environment");
    return variables;
  }

  describe("functions", () => {
    it("run the notes' handlers with their timeouts and memory", () => {
      const { decommission } = dev.stateless;
      const shape = (construct: IConstruct) => {
        const { Handler, Timeout, MemorySize } = fn(dev, construct);
        return { Handler, Timeout, MemorySize };
      };

      expect(shape(decommission.apiFunction.function)).toEqual({
        Handler: "index.handler",
        Timeout: 10,
        MemorySize: 512,
      });
      expect(shape(decommission.executorFunction.function)).toEqual({
        Handler: "index.handler",
        Timeout: 60,
        MemorySize: 256,
      });
      expect(shape(decommission.reconcilerFunction.function)).toEqual({
        Handler: "index.handler",
        Timeout: 60,
        MemorySize: 512,
      });
      expect(shape(decommission.deadLetterFunction.function)).toEqual({
        Handler: "index.deadLetterHandler",
        Timeout: 60,
        MemorySize: 512,
      });
    });

    it("give each function the settings its handler reads, from the stage's configuration", () => {
      const { stateful } = dev;
      const { decommission } = dev.stateless;
      const common = {
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_METRICS_NAMESPACE: "EvseOps",
        POWERTOOLS_LOG_LEVEL: "INFO",
        TABLE_NAME: { Ref: logicalId(stateful.table) },
        EVENT_BUS_NAME: { Ref: logicalId(stateful.bus) },
        EVENT_SOURCE: "evse-ops",
        PAUSE_CACHE_SECONDS: "15",
        DECOMMISSION_START_PAUSED: "false",
      };
      const reconciling = { RECONCILE_STALE_MINUTES: "15", REPUBLISH_WINDOW_HOURS: "24" };

      expect(environment(dev, decommission.apiFunction.function)).toEqual({
        ...common,
        POWERTOOLS_SERVICE_NAME: "evse-ops-decommission-api",
        APPROVER_ROLE_ARNS: getAtt(approverRole(dev)),
        APPROVAL_KEY_ID: getAtt(stateful.approvalKey),
        PENDING_EXPIRY_DAYS: "7",
        IDEMPOTENCY_RETENTION_HOURS: "24",
        EXECUTION_ENABLED: "false",
      });
      // dev does not execute: no write secret to read (see "execution off" below).
      expect(environment(dev, decommission.executorFunction.function)).toEqual({
        ...common,
        POWERTOOLS_SERVICE_NAME: "evse-ops-decommission-executor",
        EXECUTION_ENABLED: "false",
        EVENERGY_API_URL: "https://api.ev.energy/v2",
        EVENERGY_TOKEN_URL: "https://api.ev.energy/o/token/",
        EVENERGY_WRITE_SCOPE: "evse:write",
        APPROVAL_KEY_ID: getAtt(stateful.approvalKey),
        EVENERGY_REQUEST_TIMEOUT_SECONDS: "10",
        EXECUTION_MAX_ATTEMPTS: "8",
        EXECUTION_BACKOFF_SECONDS: "30",
        EXECUTION_MAX_BACKOFF_SECONDS: "900",
        EXECUTION_LEASE_SECONDS: "300",
      });
      expect(environment(dev, decommission.reconcilerFunction.function)).toEqual({
        ...common,
        ...reconciling,
        POWERTOOLS_SERVICE_NAME: "evse-ops-decommission-reconciler",
      });
      expect(environment(dev, decommission.deadLetterFunction.function)).toEqual({
        ...common,
        ...reconciling,
        POWERTOOLS_SERVICE_NAME: "evse-ops-decommission-dead-letters",
      });
    });

    it("execute only in a stage that enables it (prod): dev's executor gets no write secret, nor the right to read one", () => {
      const { decommission: devFunctions } = dev.stateless;
      const { decommission: prodFunctions } = variant.stateless;
      const secretActions = (stage: SynthesisedStage, construct: IConstruct) =>
        statementsOfRole(stage.statelessTemplate, logicalId(construct), stage.statefulTemplate)
          .filter((statement) =>
            statement.actions.some((action) => action.startsWith("secretsmanager:")),
          )
          .map(({ actions, resources }) => ({ actions: [...actions].sort(), resources }));

      expect(environment(variant, prodFunctions.executorFunction.function)).toMatchObject({
        EXECUTION_ENABLED: "true",
        EVENERGY_WRITE_SECRET_ID: { Ref: logicalId(variant.stateful.writeSecret) },
      });
      expect(environment(variant, prodFunctions.apiFunction.function).EXECUTION_ENABLED).toBe(
        "true",
      );
      expect(secretActions(variant, executorRole(prodFunctions))).toEqual([
        {
          actions: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
          resources: [{ Ref: logicalId(variant.stateful.writeSecret) }],
        },
      ]);

      expect(
        environment(dev, devFunctions.executorFunction.function).EVENERGY_WRITE_SECRET_ID,
      ).toBeUndefined();
      expect(secretActions(dev, executorRole(devFunctions))).toEqual([]);
      expect(fn(dev, devFunctions.executorFunction.function).Description).toMatch(
        /without a DELETE: execution is off in this stage/,
      );
    });

    it("start paused when the stage says so", () => {
      const { decommission } = variant.stateless;
      for (const construct of [
        decommission.apiFunction.function,
        decommission.executorFunction.function,
        decommission.reconcilerFunction.function,
      ]) {
        expect(environment(variant, construct).DECOMMISSION_START_PAUSED).toBe("true");
      }
    });

    it("get approver role ARNs that the API's own pattern compiler accepts, once deployed", () => {
      for (const stage of [dev, variant]) {
        const arns = concreteValue(
          stage,
          environment(stage, stage.stateless.decommission.apiFunction.function).APPROVER_ROLE_ARNS,
        );
        expect(arns).toBe(
          `arn:aws:iam::${DEPLOYED.account}:role/evse-ops-${stage.config.stage}-approver`,
        );
        expect(() => compileApproverPatterns(String(arns).split(","))).not.toThrow();
      }
    });
  });

  describe("execution path", () => {
    it("feeds the executor one message at a time, reporting failures per item, two at once", () => {
      const { decommission } = dev.stateless;
      dev.statelessTemplate.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: getAtt(decommission.executionQueue),
        FunctionName: { Ref: logicalId(decommission.executorFunction.function) },
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 2 },
      });
    });

    it("lets the executor move a retry's next delivery on its own queue", () => {
      const { decommission } = dev.stateless;
      const role = decommission.executorFunction.function.role;
      if (!role) throw new Error("the executor has no role");
      const statements = statementsOfRole(
        dev.statelessTemplate,
        logicalId(role),
        dev.statefulTemplate,
      );
      const queue = JSON.stringify(getAtt(decommission.executionQueue));
      expect(
        statements.some(
          (statement) =>
            statement.actions.includes("sqs:ChangeMessageVisibility") &&
            statement.resources.map((r) => JSON.stringify(r)).includes(queue),
        ),
      ).toBe(true);
    });

    it("hides a message for six executor timeouts and dead-letters it after 30 receives", () => {
      const { decommission } = dev.stateless;
      const queue = properties(resourceOf(dev.statelessTemplate, decommission.executionQueue));
      const executorTimeout = Number(fn(dev, decommission.executorFunction.function).Timeout);

      expect(queue).toMatchObject({
        VisibilityTimeout: 360,
        MessageRetentionPeriod: 4 * 24 * 3600,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: getAtt(decommission.executionDeadLetterQueue),
          maxReceiveCount: 30,
        },
      });
      expect(Number(queue.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * executorTimeout);
      expect(
        properties(resourceOf(dev.statelessTemplate, decommission.executionDeadLetterQueue)),
      ).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
    });

    it("has the dead-letter function consume the dead-letter queue, reporting failures per item", () => {
      const { decommission } = dev.stateless;
      dev.statelessTemplate.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: getAtt(decommission.executionDeadLetterQueue),
        FunctionName: { Ref: logicalId(decommission.deadLetterFunction.function) },
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    });

    it("lets the dead-letter function consume and delay messages of its own queue, and no other", () => {
      const { decommission } = dev.stateless;
      const statements = statementsOfRole(
        dev.statelessTemplate,
        logicalId(decommission.deadLetterFunction.role),
        dev.statefulTemplate,
      );
      const sqs = statements
        .filter((statement) => statement.actions.some((action) => action.startsWith("sqs:")))
        .map(({ actions, resources }) => ({ actions: [...actions].sort(), resources }));

      expect(sqs).toEqual([
        {
          actions: [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
          ],
          resources: [getAtt(decommission.executionDeadLetterQueue)],
        },
      ]);
    });

    it("fills the queue from the bus: execution requests of the app's source, never replays", () => {
      const { decommission } = dev.stateless;
      const rule = properties(resourceOf(dev.statelessTemplate, decommission.executionRule));

      expect(rule.EventPattern).toEqual({
        source: ["evse-ops"],
        "detail-type": ["EVSE Decommission Execution Requested"],
        "replay-name": [{ exists: false }],
      });
      expect(rule.Targets).toEqual([
        {
          Id: "Target0",
          Arn: getAtt(decommission.executionQueue),
          DeadLetterConfig: { Arn: getAtt(decommission.executionRuleDeadLetterQueue) },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        },
      ]);
      expect(resolveCrossStack(rule.EventBusName, dev.statefulTemplate)).toEqual({
        Ref: logicalId(dev.stateful.bus),
      });
    });

    it("names the execution event exactly as the code publishes it", () => {
      expect(EXECUTION_REQUESTED_DETAIL_TYPE).toBe(EXECUTION_REQUESTED);
      const model = readFileSync(join(REPO_ROOT, "functions/core/decommission/model.ts"), "utf8");
      const declared = new Set(model.match(/"EVSE Decommission [A-Z][a-z]+"/g) ?? []);
      expect([...declared].map((quoted) => JSON.parse(quoted)).sort()).toEqual(
        [...DECOMMISSION_DETAIL_TYPES].sort(),
      );
    });

    it("runs the reconciler every 5 minutes, without Scheduler retries", () => {
      const { decommission } = dev.stateless;
      dev.statelessTemplate.hasResourceProperties("AWS::Scheduler::Schedule", {
        ScheduleExpression: "rate(5 minutes)",
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: Match.objectLike({
          Arn: getAtt(decommission.reconcilerFunction.function),
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 },
          DeadLetterConfig: { Arn: getAtt(decommission.reconcilerScheduleDeadLetterQueue) },
        }),
      });
      dev.statelessTemplate.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: logicalId(decommission.reconcilerFunction.function) },
        MaximumRetryAttempts: 0,
        DestinationConfig: {
          OnFailure: { Destination: getAtt(decommission.reconcilerFailureQueue) },
        },
      });
    });
  });

  describe("REST API", () => {
    /** `METHOD /path` of every method, from the template's resources. */
    function routesOf(stage: SynthesisedStage): string[] {
      const template = stage.statelessTemplate.toJSON();
      const all: Record<string, Json> = isObject(template.Resources) ? template.Resources : {};
      const pathOf = (ref: Json | undefined): string => {
        if (!isObject(ref)) return "";
        if (isObject(ref["Fn::GetAtt"]) || Array.isArray(ref["Fn::GetAtt"])) return "";
        const id = typeof ref.Ref === "string" ? ref.Ref : "";
        const resource = all[id];
        if (!isObject(resource) || resource.Type !== "AWS::ApiGateway::Resource") return "";
        const props = properties(resource);
        return `${pathOf(props.ParentId)}/${String(props.PathPart)}`;
      };
      return resources(stage, "AWS::ApiGateway::Method").map((method) => {
        const props = properties(method);
        return `${String(props.HttpMethod)} ${pathOf(props.ResourceId)}`;
      });
    }

    it("has exactly the handler's routes, each IAM-authorised and validated", () => {
      expect(routesOf(dev).sort()).toEqual(
        ROUTES.map((route) => `${route.method} ${route.path}`).sort(),
      );
      for (const method of resources(dev, "AWS::ApiGateway::Method")) {
        const props = properties(method);
        expect(props).toMatchObject({
          AuthorizationType: "AWS_IAM",
          RequestValidatorId: { Ref: expect.stringMatching(/^DecommissionValidator/) },
          Integration: { Type: "AWS_PROXY", IntegrationHttpMethod: "POST" },
        });
        const route = ROUTES.find((candidate) => candidate.name === props.OperationName);
        expect(route, String(props.OperationName)).toBeDefined();
        const expected = route?.path.includes("{id}") ? { "method.request.path.id": true } : {};
        expect(props.RequestParameters ?? {}).toEqual(expected);
      }
      dev.statelessTemplate.hasResourceProperties("AWS::ApiGateway::RequestValidator", {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
    });

    it("checks that required bodies are JSON objects, leaving field errors to the handler", () => {
      const withModels = resources(dev, "AWS::ApiGateway::Method")
        .map(properties)
        .filter((props) => props.RequestModels !== undefined)
        .map((props) => props.OperationName)
        .sort();
      expect(withModels).toEqual(["createRequest", "rejectRequest"]);
      dev.statelessTemplate.hasResourceProperties("AWS::ApiGateway::Model", {
        ContentType: "application/json",
        Schema: { type: "object" },
      });
    });

    it("throttles the stage, traces it, logs errors and JSON access logs, never bodies", () => {
      const { decommission } = dev.stateless;
      const stage = properties(resourceOf(dev.statelessTemplate, decommission.api.deploymentStage));

      expect(stage).toMatchObject({
        StageName: "dev",
        TracingEnabled: true,
        MethodSettings: [
          {
            HttpMethod: "*",
            ResourcePath: "/*",
            ThrottlingRateLimit: 20,
            ThrottlingBurstLimit: 40,
            LoggingLevel: "ERROR",
            DataTraceEnabled: false,
            MetricsEnabled: true,
          },
        ],
      });
      const accessLogs = isObject(stage.AccessLogSetting) ? stage.AccessLogSetting : {};
      expect(JSON.stringify(accessLogs.DestinationArn)).toContain(
        logicalId(decommission.accessLogs),
      );
      const format: JsonObject = JSON.parse(String(accessLogs.Format));
      expect(format).toMatchObject({
        requestId: "$context.requestId",
        httpMethod: "$context.httpMethod",
        resourcePath: "$context.resourcePath",
        status: "$context.status",
        userArn: "$context.identity.userArn",
        errorMessage: "$context.error.message",
      });
    });

    it("creates its execution log group first, with the stage's retention", () => {
      const { decommission } = dev.stateless;
      dev.statelessTemplate.hasResourceProperties("AWS::Logs::LogGroup", {
        LogGroupName: {
          "Fn::Join": [
            "",
            ["API-Gateway-Execution-Logs_", { Ref: logicalId(decommission.api) }, "/dev"],
          ],
        },
        RetentionInDays: 14,
      });
      const stage = resourceOf(dev.statelessTemplate, decommission.api.deploymentStage);
      expect(JSON.stringify(stage.DependsOn)).toContain("DecommissionExecutionLogs");
    });

    it("answers every gateway error as an RFC 9457 problem with its own status", () => {
      const responses = resources(dev, "AWS::ApiGateway::GatewayResponse").map(properties);
      expect(responses.map((r) => r.ResponseType).sort()).toEqual(
        GATEWAY_PROBLEMS.map(([type]) => type.responseType).sort(),
      );
      const sample = {
        "$context.error.messageString": '"Missing Authentication Token"',
        "$context.error.validationErrorString": '"[object has missing required properties]"',
        "$context.path": "/dev/decommission-requests",
        "$context.requestId": "c0ffee",
      };
      for (const response of responses) {
        const templates = isObject(response.ResponseTemplates) ? response.ResponseTemplates : {};
        let body = String(templates["application/json"]);
        for (const [variable, value] of Object.entries(sample))
          body = body.replaceAll(variable, value);
        const problem: JsonObject = JSON.parse(body);

        expect(response.ResponseParameters).toEqual({
          "gatewayresponse.header.Content-Type": "'application/problem+json'",
        });
        expect(problem).toMatchObject({
          type: expect.stringMatching(/^urn:evse-ops:problem:[a-z-]+$/),
          title: expect.any(String),
          status: Number(response.StatusCode),
          detail: expect.any(String),
          instance: "/dev/decommission-requests",
          correlationId: "c0ffee",
        });
      }
      const statusOf = (type: string) => responses.find((r) => r.ResponseType === type)?.StatusCode;
      expect(statusOf("DEFAULT_4XX")).toBe("400");
      expect(statusOf("DEFAULT_5XX")).toBe("500");
      expect(statusOf("MISSING_AUTHENTICATION_TOKEN")).toBe("403");
      expect(statusOf("THROTTLED")).toBe("429");
      expect(statusOf("INTEGRATION_TIMEOUT")).toBe("504");
    });

    it("sets API Gateway's account logging role only when asked to create it", () => {
      dev.statelessTemplate.resourceCountIs("AWS::ApiGateway::Account", 1);
      dev.statelessTemplate.hasResource("AWS::IAM::Role", {
        Properties: Match.objectLike({
          AssumeRolePolicyDocument: Match.objectLike({
            Statement: [Match.objectLike({ Principal: { Service: "apigateway.amazonaws.com" } })],
          }),
        }),
        DeletionPolicy: "Retain",
      });
      variant.statelessTemplate.resourceCountIs("AWS::ApiGateway::Account", 0);
    });

    it("admits the configured accounts and organisation, and denies every other principal", () => {
      const api = properties(
        resourceOf(variant.statelessTemplate, variant.stateless.decommission.api),
      );
      const root = (account: string) => ({
        "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:iam::${account}:root`]],
      });

      expect(api.Policy).toEqual({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "AllowConfiguredAccounts",
            Effect: "Allow",
            Principal: { AWS: [root(CALLER_ACCOUNT), root(OTHER_ACCOUNT)] },
            Action: "execute-api:Invoke",
            Resource: "execute-api:/*",
          },
          {
            Sid: "AllowConfiguredOrganization",
            Effect: "Allow",
            Principal: { AWS: "*" },
            Action: "execute-api:Invoke",
            Resource: "execute-api:/*",
            Condition: { StringEquals: { "aws:PrincipalOrgID": ORGANIZATION } },
          },
          {
            Sid: "DenyEveryoneElse",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "execute-api:Invoke",
            Resource: "execute-api:/*",
            Condition: {
              StringNotEquals: {
                "aws:PrincipalAccount": [CALLER_ACCOUNT, OTHER_ACCOUNT],
                "aws:PrincipalOrgID": ORGANIZATION,
              },
            },
          },
          {
            Sid: "DenyDecisionsByNonApprovers",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "execute-api:Invoke",
            Resource: [
              "execute-api:/*/POST/decommission-requests/*/approve*",
              "execute-api:/*/POST/decommission-requests/*/reject*",
            ],
            Condition: {
              ArnNotLike: {
                "aws:PrincipalArn": [getAtt(approverRole(variant))],
              },
            },
          },
        ],
      });
    });

    it("publishes its URL and its id as stack outputs (the deploy guide reads them by name)", () => {
      const outputs = dev.statelessTemplate.toJSON().Outputs;
      expect(isObject(outputs) && isObject(outputs.DecommissionApiUrl)).toBe(true);
      expect(isObject(outputs) ? outputs.DecommissionApiId : undefined).toMatchObject({
        Value: { Ref: logicalId(dev.stateless.decommission.api) },
      });
      expect(isObject(outputs) ? outputs.PollLogGroup : undefined).toMatchObject({
        Value: { Ref: logicalId(dev.stateless.poller.pollFunction.logGroup) },
      });
    });
  });
});
