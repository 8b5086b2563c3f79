import { runSimulation } from "@cloud-copilot/iam-simulate";
import { Match } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalKeyRoles } from "../../infra/constructs/approval-key.js";
import {
  committedStage,
  concreteValue,
  DEPLOYED,
  findings,
  isObject,
  type Json,
  type JsonObject,
  logicalId,
  properties,
  resourceOf,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

const READ_ARN = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:evse-ops/prod/read-AbC123";
const TOPIC_ARN = "arn:aws:sns:eu-west-2:123456789012:ops-alarms";

function withSecrets(stage: string, secrets: JsonObject, monitoring?: JsonObject): JsonObject {
  const settings = committedStage(stage);
  const committedMonitoring = isObject(settings.monitoring) ? settings.monitoring : {};
  return {
    ...settings,
    secrets,
    monitoring: { ...committedMonitoring, ...monitoring },
  };
}

/** The alarm topic's own key (the stateful stack has the approval key too). */
function alarmKey(stage: SynthesisedStage): IConstruct {
  return stage.stateful.node.findChild("Alarms").node.findChild("Key");
}

describe("stateful stack", () => {
  let dev: SynthesisedStage;
  let prod: SynthesisedStage;
  let imported: SynthesisedStage;
  let shared: SynthesisedStage;

  beforeAll(() => {
    dev = synthStage("dev");
    prod = synthStage("prod");
    imported = synthStage(
      "prod",
      withSecrets(
        "prod",
        {
          read: { import: READ_ARN },
          write: { import: "evse-ops/prod/write" },
          shareOneSecret: false,
        },
        { alarmTopic: { import: TOPIC_ARN }, alarmEmail: "oncall@example.com" },
      ),
    );
    shared = synthStage(
      "dev",
      withSecrets(
        "dev",
        { read: { create: true }, shareOneSecret: true },
        { alarmEmail: "dev-alarms@example.com" },
      ),
    );
  });

  afterAll(() => {
    for (const stage of [dev, prod, imported, shared]) stage?.cleanUp();
  });

  it("names the stacks after the stage", () => {
    expect(dev.stateful.stackName).toBe("evse-ops-dev-stateful");
    expect(dev.stateless.stackName).toBe("evse-ops-dev-stateless");
    expect(prod.stateful.stackName).toBe("evse-ops-prod-stateful");
    expect(prod.stateless.stackName).toBe("evse-ops-prod-stateless");
  });

  describe("state table", () => {
    it("is keyed pk/sk (strings), on demand, encrypted with the AWS-managed key, with gsi1 and the sparse offline index gsi2", () => {
      for (const { statefulTemplate } of [dev, prod]) {
        statefulTemplate.resourceCountIs("AWS::DynamoDB::GlobalTable", 1);
        statefulTemplate.hasResourceProperties("AWS::DynamoDB::GlobalTable", {
          KeySchema: [
            { AttributeName: "pk", KeyType: "HASH" },
            { AttributeName: "sk", KeyType: "RANGE" },
          ],
          AttributeDefinitions: Match.arrayWith([
            { AttributeName: "pk", AttributeType: "S" },
            { AttributeName: "sk", AttributeType: "S" },
            { AttributeName: "gsi1pk", AttributeType: "S" },
            { AttributeName: "gsi1sk", AttributeType: "S" },
            { AttributeName: "gsi2pk", AttributeType: "S" },
            { AttributeName: "gsi2sk", AttributeType: "S" },
          ]),
          BillingMode: "PAY_PER_REQUEST",
          SSESpecification: { SSEEnabled: true, SSEType: "KMS" },
          GlobalSecondaryIndexes: [
            {
              IndexName: "gsi1",
              KeySchema: [
                { AttributeName: "gsi1pk", KeyType: "HASH" },
                { AttributeName: "gsi1sk", KeyType: "RANGE" },
              ],
              Projection: { ProjectionType: "ALL" },
            },
            {
              IndexName: "gsi2",
              KeySchema: [
                { AttributeName: "gsi2pk", KeyType: "HASH" },
                { AttributeName: "gsi2sk", KeyType: "RANGE" },
              ],
              // Only what changes with a change event: an offline device's heartbeat writes no index.
              Projection: {
                ProjectionType: "INCLUDE",
                NonKeyAttributes: [
                  "evseId",
                  "cpid",
                  "lockMode",
                  "sampledAt",
                  "connectivity",
                  "lifecycle",
                  "firstSeenAt",
                  "lastChangedAt",
                ],
              },
            },
          ],
        });
      }
    });

    it("is retained and deletion-protected in prod, with point-in-time recovery", () => {
      prod.statefulTemplate.hasResource("AWS::DynamoDB::GlobalTable", {
        DeletionPolicy: "Retain",
        UpdateReplacePolicy: "Retain",
        Properties: Match.objectLike({
          Replicas: [
            Match.objectLike({
              DeletionProtectionEnabled: true,
              PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            }),
          ],
        }),
      });
    });

    it("is destroyed with the stack in dev, still with point-in-time recovery", () => {
      dev.statefulTemplate.hasResource("AWS::DynamoDB::GlobalTable", {
        DeletionPolicy: "Delete",
        UpdateReplacePolicy: "Delete",
        Properties: Match.objectLike({
          Replicas: [
            Match.objectLike({
              DeletionProtectionEnabled: false,
              PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            }),
          ],
        }),
      });
    });
  });

  it("expires items by their expiresAt attribute (DynamoDB TTL)", () => {
    for (const { statefulTemplate } of [dev, prod]) {
      statefulTemplate.hasResourceProperties("AWS::DynamoDB::GlobalTable", {
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      });
    }
  });

  describe("event archive", () => {
    it("keeps the app's own events for the configured number of days, for replay", () => {
      for (const [stage, days] of [
        [dev, 7],
        [prod, 90],
      ] as const) {
        stage.statefulTemplate.resourceCountIs("AWS::Events::Archive", 1);
        stage.statefulTemplate.hasResourceProperties("AWS::Events::Archive", {
          ArchiveName: `evse-ops-${stage.config.stage}-events`,
          SourceArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^Bus"), "Arn"] },
          EventPattern: { source: ["evse-ops"] },
          RetentionDays: days,
        });
      }
    });

    it("is retained in prod and destroyed in dev, like the bus", () => {
      prod.statefulTemplate.hasResource("AWS::Events::Archive", { DeletionPolicy: "Retain" });
      dev.statefulTemplate.hasResource("AWS::Events::Archive", { DeletionPolicy: "Delete" });
    });
  });

  describe("alarm topic", () => {
    it("is created encrypted with its own rotated key that CloudWatch alarms may use", () => {
      for (const { statefulTemplate } of [dev, prod]) {
        statefulTemplate.resourceCountIs("AWS::SNS::Topic", 1);
        statefulTemplate.hasResourceProperties("AWS::SNS::Topic", {
          KmsMasterKeyId: { "Fn::GetAtt": [Match.stringLikeRegexp("^AlarmsKey"), "Arn"] },
        });
        statefulTemplate.hasResourceProperties("AWS::KMS::Key", {
          EnableKeyRotation: true,
          KeyPolicy: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: "Allow",
                Principal: { Service: "cloudwatch.amazonaws.com" },
                Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
                Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
              }),
            ]),
          },
        });
      }
    });

    it("refuses publishers that do not use TLS", () => {
      dev.statefulTemplate.hasResourceProperties("AWS::SNS::TopicPolicy", {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Action: "sns:Publish",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    });

    it("is retained with its key in prod and destroyed in dev", () => {
      prod.statefulTemplate.hasResource("AWS::SNS::Topic", {
        Properties: Match.objectLike({ TopicName: "evse-ops-prod-alarms" }),
        DeletionPolicy: "Retain",
      });
      expect(resourceOf(prod.statefulTemplate, alarmKey(prod)).DeletionPolicy).toBe("Retain");
      dev.statefulTemplate.hasResource("AWS::SNS::Topic", { DeletionPolicy: "Delete" });
      expect(resourceOf(dev.statefulTemplate, alarmKey(dev)).DeletionPolicy).toBe("Delete");
    });

    it("has no subscription unless an e-mail address is configured", () => {
      dev.statefulTemplate.resourceCountIs("AWS::SNS::Subscription", 0);
      shared.statefulTemplate.hasResourceProperties("AWS::SNS::Subscription", {
        Protocol: "email",
        Endpoint: "dev-alarms@example.com",
        TopicArn: { Ref: Match.stringLikeRegexp("^AlarmsTopic") },
      });
    });

    it("is imported by ARN when configured, and still gets the e-mail subscription", () => {
      imported.statefulTemplate.resourceCountIs("AWS::SNS::Topic", 0);
      // The approval key is the only key left: no alarm key without an alarm topic.
      expect(Object.keys(imported.statefulTemplate.findResources("AWS::KMS::Key"))).toEqual([
        logicalId(imported.stateful.approvalKey),
      ]);
      expect(imported.stateful.alarmTopic.topicArn).toBe(TOPIC_ARN);
      imported.statefulTemplate.hasResourceProperties("AWS::SNS::Subscription", {
        Protocol: "email",
        Endpoint: "oncall@example.com",
        TopicArn: TOPIC_ARN,
      });
      imported.statelessTemplate.hasResourceProperties("AWS::CloudWatch::Alarm", {
        AlarmActions: [TOPIC_ARN],
      });
    });

    it("leaves no unacknowledged nag finding with an e-mail subscription, created or imported", () => {
      expect(findings(imported.report)).toEqual([]);
      expect(findings(shared.report)).toEqual([]);
    });
  });

  describe("approval key", () => {
    it("is an HMAC key for making and verifying MACs, which KMS cannot rotate", () => {
      for (const stage of [dev, prod]) {
        const key = properties(resourceOf(stage.statefulTemplate, stage.stateful.approvalKey));
        expect(key).toMatchObject({ KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC" });
        expect(key.EnableKeyRotation).toBeUndefined();
      }
    });

    it("outlives the stack in prod and goes with it in dev", () => {
      const policyOf = (stage: SynthesisedStage) =>
        resourceOf(stage.statefulTemplate, stage.stateful.approvalKey).DeletionPolicy;
      expect(policyOf(prod)).toBe("Retain");
      expect(policyOf(dev)).toBe("Delete");
    });

    it("keeps signing to the API's role and verifying to the executor's, whatever an identity policy says", async () => {
      const key = properties(resourceOf(dev.statefulTemplate, dev.stateful.approvalKey));
      const policy = concreteValue(dev, key.KeyPolicy) as Json;
      const keyArn = `arn:aws:kms:${DEPLOYED.region}:${DEPLOYED.account}:key/approvals`;
      const roleArn = (name: string) => `arn:aws:iam::${DEPLOYED.account}:role/${name}`;
      // Each caller's own policy allows everything: only the key policy can say no.
      const decide = async (role: string, action: string) => {
        const response = await runSimulation(
          {
            request: {
              principal: `arn:aws:sts::${DEPLOYED.account}:assumed-role/${role}/session`,
              action,
              resource: { resource: keyArn, accountId: DEPLOYED.account },
              contextVariables: { "aws:PrincipalArn": roleArn(role) },
            },
            identityPolicies: [
              {
                name: "administrator",
                policy: {
                  Version: "2012-10-17",
                  Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
                },
              },
            ],
            resourcePolicy: policy as never,
            serviceControlPolicies: [],
            resourceControlPolicies: [],
          },
          {},
        );
        if (response.resultType !== "single") throw new Error(JSON.stringify(response));
        return response.overallResult;
      };
      const { signer, verifier } = approvalKeyRoles("dev");
      expect(await decide(signer, "kms:GenerateMac")).toBe("Allowed");
      expect(await decide(verifier, "kms:VerifyMac")).toBe("Allowed");
      expect(await decide(verifier, "kms:GenerateMac")).toBe("ExplicitlyDenied");
      expect(await decide(signer, "kms:VerifyMac")).toBe("ExplicitlyDenied");
      for (const other of ["admin", "evse-ops-prod-decommission-api", "evse-ops-dev-poll"]) {
        expect(await decide(other, "kms:GenerateMac"), other).toBe("ExplicitlyDenied");
        expect(await decide(other, "kms:VerifyMac"), other).toBe("ExplicitlyDenied");
      }
      // Administering the key stays with the account.
      expect(await decide("admin", "kms:DescribeKey")).toBe("Allowed");
    });

    it("names the roles the stateless stack gives the API and the executor", () => {
      const { api, executor } = {
        api: dev.stateless.decommission.apiFunction,
        executor: dev.stateless.decommission.executorFunction,
      };
      const roleName = (role: IConstruct) =>
        properties(resourceOf(dev.statelessTemplate, role)).RoleName;
      expect(roleName(api.role)).toBe(approvalKeyRoles("dev").signer);
      expect(roleName(executor.role)).toBe(approvalKeyRoles("dev").verifier);
    });
  });

  it("creates the stage's event bus, retained in prod", () => {
    dev.statefulTemplate.hasResource("AWS::Events::EventBus", {
      Properties: Match.objectLike({ Name: "evse-ops-dev" }),
      DeletionPolicy: "Delete",
    });
    prod.statefulTemplate.hasResource("AWS::Events::EventBus", {
      Properties: Match.objectLike({ Name: "evse-ops-prod" }),
      DeletionPolicy: "Retain",
    });
  });

  it("tells operators where things are: secrets, table, alarm topic, archive", () => {
    const outputs = dev.statefulTemplate.toJSON().Outputs;
    expect(isObject(outputs) ? Object.keys(outputs).sort() : []).toEqual(
      expect.arrayContaining([
        "AlarmTopicArn",
        "ArchiveName",
        "ReadSecretArn",
        "TableName",
        "WriteSecretArn",
      ]),
    );
  });

  it("protects the prod stateful stack from deletion, and not dev's", () => {
    expect(prod.stateful.terminationProtection).toBe(true);
    expect(dev.stateful.terminationProtection).toBe(false);
  });

  describe("ev.energy secrets", () => {
    it("creates a read and a write placeholder secret whose value shows the expected shape", () => {
      // The two ev.energy credentials, and the webhook signing secret (checked below).
      dev.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 3);
      for (const secret of [dev.stateful.readSecret, dev.stateful.writeSecret]) {
        expect(properties(resourceOf(dev.statefulTemplate, secret))).toMatchObject({
          GenerateSecretString: expect.objectContaining({
            SecretStringTemplate: JSON.stringify({ client_id: "REPLACE_ME" }),
            GenerateStringKey: "client_secret",
          }),
          Description: expect.stringMatching(/\{"client_id":"\.\.\.","client_secret"/),
        });
      }
      dev.statefulTemplate.allResources("AWS::SecretsManager::Secret", {
        DeletionPolicy: "Delete",
      });
      prod.statefulTemplate.allResources("AWS::SecretsManager::Secret", {
        DeletionPolicy: "Retain",
      });
      expect(dev.stateful.readSecret).not.toBe(dev.stateful.writeSecret);
    });

    it("imports secrets by ARN or by name instead of creating them", () => {
      // Only the webhook signing secret, which the stage always creates.
      imported.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 1);
      resourceOf(imported.statefulTemplate, imported.stateful.webhookSecret);
      expect(imported.stateful.readSecret.secretArn).toBe(READ_ARN);
      expect(imported.stateful.readSecret.secretFullArn).toBe(READ_ARN);
      expect(imported.stateful.writeSecret.secretName).toBe("evse-ops/prod/write");
    });

    it("hands each imported secret to its one function: read to the poller, write to the executor", () => {
      const { stateless, statelessTemplate } = imported;
      const settingsOf = (fn: IConstruct) =>
        JSON.stringify(properties(resourceOf(statelessTemplate, fn)));
      const poll = settingsOf(stateless.poller.pollFunction.function);
      const executor = settingsOf(stateless.decommission.executorFunction.function);

      expect(poll).toContain(`"EVENERGY_SECRET_ID":"${READ_ARN}"`);
      expect(poll).not.toContain("evse-ops/prod/write");
      expect(executor).toContain("evse-ops/prod/write");
      expect(executor).not.toContain(READ_ARN);
      statelessTemplate.hasResourceProperties("AWS::IAM::Policy", {
        Roles: [{ Ref: logicalId(stateless.poller.pollFunction.role) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
              Effect: "Allow",
              Resource: READ_ARN,
            },
          ]),
        },
      });
      const mentions = Object.entries(statelessTemplate.toJSON().Resources as Record<string, Json>)
        .filter(([, resource]) => JSON.stringify(resource).includes("evse-ops/prod/write"))
        .map(([id]) => id)
        .sort();
      expect(mentions).toEqual(
        [
          logicalId(stateless.decommission.executorFunction.function),
          logicalId(stateless.decommission.executorFunction.role.node.findChild("DefaultPolicy")),
        ].sort(),
      );
    });

    it("creates the webhook signing secret as a placeholder that verifies nothing", () => {
      expect(
        properties(resourceOf(dev.statefulTemplate, dev.stateful.webhookSecret)),
      ).toMatchObject({
        GenerateSecretString: expect.objectContaining({
          SecretStringTemplate: JSON.stringify({ current: "whsec_REPLACE_ME" }),
        }),
      });
      const outputs = dev.statefulTemplate.toJSON().Outputs;
      expect(outputs.WebhookSigningSecretArn.Value).toEqual({
        Ref: logicalId(dev.stateful.webhookSecret),
      });
    });

    it("uses the read secret for writing too when shareOneSecret is set", () => {
      // The shared ev.energy secret and the webhook signing secret.
      shared.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 2);
      expect(shared.stateful.writeSecret).toBe(shared.stateful.readSecret);
      const outputs = shared.statefulTemplate.toJSON().Outputs;
      expect(isObject(outputs)).toBe(true);
      expect(outputs.WriteSecretArn.Value).toEqual(outputs.ReadSecretArn.Value);
    });
  });
});
