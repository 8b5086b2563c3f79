import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Stack, Validations } from "aws-cdk-lib";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../infra/app.js";
import {
  findings,
  readValidationReport,
  reportingContext,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every rule acknowledged anywhere in the tree (`Validations.of(x).acknowledge`). */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  const found: Acknowledgement[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      const data: Record<string, unknown> = entry.data;
      for (const [qualifiedId, reason] of Object.entries(data)) {
        found.push({
          path: construct.node.path,
          id: qualifiedId.replace(/^annotation::/i, ""),
          reason: typeof reason === "string" ? reason : "",
        });
      }
    }
  }
  return found;
}

describe("cdk-nag (AwsSolutions and Serverless packs)", () => {
  const stages: Record<string, SynthesisedStage> = {};

  beforeAll(() => {
    for (const stage of ["dev", "prod"]) stages[stage] = synthStage(stage);
  });

  afterAll(() => {
    for (const stage of Object.values(stages)) stage.cleanUp();
  });

  it.each(["dev", "prod"])("finds no unacknowledged error or warning in %s", (name) => {
    const stage = stages[name];
    if (stage === undefined) throw new Error(`${name} was not synthesised`);

    expect(findings(stage.report)).toEqual([]);
  });

  it.each(["dev", "prod"])("gives every acknowledgement in %s a reason", (name) => {
    const stage = stages[name];
    if (stage === undefined) throw new Error(`${name} was not synthesised`);

    const acks = acknowledgements(stage.app);

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.trim().length, `${ack.id} at ${ack.path}`).toBeGreaterThan(40);
    }
  });

  it("acknowledges only the reviewed rules, each where it applies", () => {
    const stage = stages.dev;
    if (stage === undefined) throw new Error("dev was not synthesised");

    const acks = acknowledgements(stage.app).map(({ path, id }) => `${path} ${id}`);

    expect(acks.sort()).toEqual(
      [
        "evse-ops-dev-stateful/EvEnergySecrets/Read AwsSolutions-SMG4",
        "evse-ops-dev-stateful/EvEnergySecrets/Write AwsSolutions-SMG4",
        "evse-ops-dev-stateless/Poller/PollFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateless/Poller/PollFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Poller/ScheduleRole AwsSolutions-IAM5[Resource::<PollerPollFunction8B3F5838.Arn>:*]",
        "evse-ops-dev-stateless/Poller/FailureQueue AwsSolutions-SQS3",
        "evse-ops-dev-stateless/Poller/FailureQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Poller/ScheduleDeadLetterQueue AwsSolutions-SQS3",
        "evse-ops-dev-stateless/Poller/ScheduleDeadLetterQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Decommission/Api AwsSolutions-APIG3",
        "evse-ops-dev-stateless/Decommission/Api AwsSolutions-COG4",
        "evse-ops-dev-stateless/Decommission/Api AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "evse-ops-dev-stateless/Approvers/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<DecommissionApi37D238FC>/<DecommissionApiDeploymentStagedevC6F8ADEB>/GET/decommission-requests*]",
        "evse-ops-dev-stateless/Approvers/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<DecommissionApi37D238FC>/<DecommissionApiDeploymentStagedevC6F8ADEB>/GET/evses*]",
        "evse-ops-dev-stateless/Approvers/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<DecommissionApi37D238FC>/<DecommissionApiDeploymentStagedevC6F8ADEB>/POST/decommission-requests/*/approve]",
        "evse-ops-dev-stateless/Approvers/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<DecommissionApi37D238FC>/<DecommissionApiDeploymentStagedevC6F8ADEB>/POST/decommission-requests/*/reject]",
        "evse-ops-dev-stateless/Decommission/ApiFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Decommission/ApiFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateless/Decommission/DeadLetterFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Decommission/DeadLetterFunction/Function Serverless-LambdaEventSourceMappingDestination",
        "evse-ops-dev-stateless/Decommission/DeadLetterFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateless/Decommission/ExecutionDeadLetterQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Decommission/ExecutionRuleDeadLetterQueue AwsSolutions-SQS3",
        "evse-ops-dev-stateless/Decommission/ExecutionRuleDeadLetterQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Decommission/ExecutorFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Decommission/ExecutorFunction/Function Serverless-LambdaEventSourceMappingDestination",
        "evse-ops-dev-stateless/Decommission/ExecutorFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateless/Decommission/Reconciler/FailureQueue AwsSolutions-SQS3",
        "evse-ops-dev-stateless/Decommission/Reconciler/FailureQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Decommission/Reconciler/ScheduleDeadLetterQueue AwsSolutions-SQS3",
        "evse-ops-dev-stateless/Decommission/Reconciler/ScheduleDeadLetterQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Decommission/Reconciler/ScheduleRole AwsSolutions-IAM5[Resource::<DecommissionReconcilerFunctionE81DA268.Arn>:*]",
        "evse-ops-dev-stateless/Decommission/ReconcilerFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Decommission/ReconcilerFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateful/WebhookSigningSecret/Secret AwsSolutions-SMG4",
        "evse-ops-dev-stateless/Webhooks/Api AwsSolutions-APIG2",
        "evse-ops-dev-stateless/Webhooks/Api AwsSolutions-APIG3",
        "evse-ops-dev-stateless/Webhooks/Api AwsSolutions-APIG4",
        "evse-ops-dev-stateless/Webhooks/Api AwsSolutions-COG4",
        "evse-ops-dev-stateless/Webhooks/DeadLetterQueue Serverless-SQSRedrivePolicy",
        "evse-ops-dev-stateless/Webhooks/ReceiverFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Webhooks/ReceiverFunction/Role AwsSolutions-IAM5[Resource::*]",
        "evse-ops-dev-stateless/Webhooks/WorkerFunction/Function Serverless-LambdaDLQ",
        "evse-ops-dev-stateless/Webhooks/WorkerFunction/Function Serverless-LambdaEventSourceMappingDestination",
        "evse-ops-dev-stateless/Webhooks/WorkerFunction/Role AwsSolutions-IAM5[Resource::*]",
      ].sort(),
    );
  });

  it("reports what the packs are meant to catch, so a clean report means something", () => {
    const outdir = mkdtempSync(join(tmpdir(), "evse-ops-nag-"));
    try {
      const { app } = buildApp(reportingContext("dev"), { outdir });
      new Queue(new Stack(app, "Unsafe"), "PlainQueue", {
        encryption: QueueEncryption.UNENCRYPTED,
      });

      const report = readValidationReport(app.synth().directory);

      expect(findings(report)).toEqual(
        expect.arrayContaining([
          "AwsSolutions error AwsSolutions-SQS2 at Unsafe/PlainQueue/Resource",
          "AwsSolutions error AwsSolutions-SQS4 at Unsafe/PlainQueue/Resource",
          "Serverless error Serverless-SQSRedrivePolicy at Unsafe/PlainQueue/Resource",
        ]),
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
