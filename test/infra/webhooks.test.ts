/**
 * The webhook capability's infrastructure, and that adding it left the decommission API exactly
 * as it was: its API Gateway resources equal the fixture synthesised before webhooks existed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ITEM_ACCESS,
  WEBHOOK_CLAIM_PREFIX,
  WEBHOOK_LEDGER_PARTITION,
} from "../../functions/adapters/dynamodb/table-design.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import { WORKER_CONCURRENCY } from "../../local/webhook-service.js";
import {
  isObject,
  type Json,
  type JsonObject,
  logicalId,
  properties,
  resourceOf,
  type SynthesisedStage,
  statementsOfRole,
  synthStage,
} from "./helpers.js";

/** The decommission API's own API Gateway resources (the API, and all that names it). */
function decommissionApiResources(stage: SynthesisedStage): Record<string, Json> {
  const resources = stage.statelessTemplate.toJSON().Resources as Record<string, Json>;
  const api = logicalId(stage.stateless.decommission.api);
  const picked: Record<string, Json> = {};
  for (const [id, resource] of Object.entries(resources)) {
    if (!isObject(resource) || typeof resource.Type !== "string") continue;
    if (!resource.Type.startsWith("AWS::ApiGateway::")) continue;
    const restApiId = JSON.stringify(properties(resource).RestApiId ?? null);
    if (id === api || restApiId === JSON.stringify({ Ref: api })) picked[id] = resource;
  }
  return picked;
}

function ofApi(stage: SynthesisedStage, type: string, api: string): JsonObject[] {
  const found: Record<string, Json> = stage.statelessTemplate.findResources(type);
  return Object.values(found)
    .filter(isObject)
    .filter((r) => JSON.stringify(properties(r).RestApiId) === JSON.stringify({ Ref: api }));
}

describe("webhook infrastructure", () => {
  let dev: SynthesisedStage;
  beforeAll(() => {
    dev = synthStage("dev");
  });
  afterAll(() => dev?.cleanUp());

  it("leaves the decommission API exactly as it was: every method AWS_IAM, the same resource policy", () => {
    const before = JSON.parse(
      readFileSync(join(REPO_ROOT, "test/infra/fixtures/decommission-api.dev.json"), "utf8"),
    );
    const now = decommissionApiResources(dev);
    expect(now).toEqual(before);
    const api = logicalId(dev.stateless.decommission.api);
    const methods = ofApi(dev, "AWS::ApiGateway::Method", api);
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods) expect(properties(method).AuthorizationType).toBe("AWS_IAM");
    expect(
      properties(resourceOf(dev.statelessTemplate, dev.stateless.decommission.api)).Policy,
    ).toEqual(properties(before[api] as JsonObject).Policy);
  });

  it("serves one public POST on an API of its own, throttled by stage and method, with no resource policy", () => {
    const api = logicalId(dev.stateless.webhooks.api);
    const apiProps = properties(resourceOf(dev.statelessTemplate, dev.stateless.webhooks.api));
    expect(apiProps.Policy).toBeUndefined();
    expect(apiProps.Name).toBe("evse-ops-dev-webhooks");
    const methods = ofApi(dev, "AWS::ApiGateway::Method", api).map(properties);
    expect(methods).toHaveLength(1);
    expect(methods[0]).toMatchObject({
      HttpMethod: "POST",
      AuthorizationType: "NONE",
      Integration: { Type: "AWS_PROXY", IntegrationHttpMethod: "POST" },
    });
    const [stage] = ofApi(dev, "AWS::ApiGateway::Stage", api).map(properties);
    expect(stage).toMatchObject({ StageName: "dev", TracingEnabled: true });
    expect(stage?.MethodSettings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          HttpMethod: "*",
          ResourcePath: "/*",
          ThrottlingRateLimit: 20,
          ThrottlingBurstLimit: 40,
          DataTraceEnabled: false,
        }),
        expect.objectContaining({
          HttpMethod: "POST",
          ResourcePath: "/~1webhooks~1ev-energy",
          ThrottlingRateLimit: 20,
          ThrottlingBurstLimit: 40,
        }),
      ]),
    );
    expect(ofApi(dev, "AWS::ApiGateway::GatewayResponse", api).length).toBeGreaterThan(10);
    const outputs = dev.statelessTemplate.toJSON().Outputs;
    expect(JSON.stringify(outputs.WebhookUrl.Value)).toContain("/webhooks/ev-energy");
  });

  it("creates its execution log group first, with the stage's retention", () => {
    const { webhooks } = dev.stateless;
    dev.statelessTemplate.hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", { Ref: logicalId(webhooks.api) }, "/dev"]],
      },
      RetentionInDays: 14,
    });
    const stage = resourceOf(dev.statelessTemplate, webhooks.api.deploymentStage);
    expect(JSON.stringify(stage.DependsOn)).toContain("WebhooksExecutionLogs");
  });

  it("reserves the receiver's concurrency and gives it the signing secret and the queue, nothing else", () => {
    const { webhooks } = dev.stateless;
    const receiver = properties(
      resourceOf(dev.statelessTemplate, webhooks.receiverFunction.function),
    );
    expect(receiver.ReservedConcurrentExecutions).toBe(5);
    const statements = statementsOfRole(
      dev.statelessTemplate,
      logicalId(webhooks.receiverFunction.role),
      dev.statefulTemplate,
    );
    const actions = statements.flatMap((s) => s.actions).sort();
    expect(actions.filter((a) => a.startsWith("dynamodb:"))).toEqual([]);
    expect(actions.filter((a) => a.startsWith("events:"))).toEqual([]);
    expect(actions).toEqual(
      expect.arrayContaining(["secretsmanager:GetSecretValue", "sqs:SendMessage"]),
    );
    const secretReads = statements.filter((s) =>
      s.actions.includes("secretsmanager:GetSecretValue"),
    );
    expect(secretReads.flatMap((s) => s.resources)).toEqual([
      { Ref: logicalId(dev.stateful.webhookSecret) },
    ]);
  });

  it("feeds the worker from a queue with a dead-letter queue, and lets it touch only its items", () => {
    const { webhooks } = dev.stateless;
    const queue = properties(resourceOf(dev.statelessTemplate, webhooks.queue));
    expect(queue.VisibilityTimeout).toBe(180);
    expect(queue.RedrivePolicy).toEqual({
      deadLetterTargetArn: { "Fn::GetAtt": [logicalId(webhooks.deadLetterQueue), "Arn"] },
      maxReceiveCount: 5,
    });
    dev.statelessTemplate.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: logicalId(webhooks.workerFunction.function) },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      // The sandbox's queue runs as many workers as the default deploys.
      ScalingConfig: { MaximumConcurrency: WORKER_CONCURRENCY },
    });
    const statements = statementsOfRole(
      dev.statelessTemplate,
      logicalId(webhooks.workerFunction.role),
      dev.statefulTemplate,
    );
    const leadingKeys = statements
      .filter((s) => s.actions.some((a) => a.startsWith("dynamodb:")))
      .flatMap((s) => {
        const condition = (s.condition ?? {}) as JsonObject;
        return Object.values(condition).flatMap((c) =>
          isObject(c) && Array.isArray(c["dynamodb:LeadingKeys"]) ? c["dynamodb:LeadingKeys"] : [],
        );
      })
      .sort();
    expect(leadingKeys).toEqual(Object.keys(ITEM_ACCESS.webhookWorker).sort());
    expect(leadingKeys).toEqual(
      expect.arrayContaining([`${WEBHOOK_CLAIM_PREFIX}*`, WEBHOOK_LEDGER_PARTITION]),
    );
    const env = JSON.stringify(
      properties(resourceOf(dev.statelessTemplate, webhooks.workerFunction.function)),
    );
    expect(env).toContain('"WEBHOOK_BUDGET_SHARE":"0.1"');
    expect(env).toContain('"BUDGET_SHARE":"0.8"');
    expect(env).not.toContain("WEBHOOK_SECRET_ID");
  });

  it("gives the poll the same webhook share, so it keeps the rest of the budget", () => {
    const poll = JSON.stringify(
      properties(resourceOf(dev.statelessTemplate, dev.stateless.poller.pollFunction.function)),
    );
    expect(poll).toContain('"WEBHOOK_BUDGET_SHARE":"0.1"');
  });
});
