import { Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  committedStage,
  isObject,
  type JsonObject,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

const READ_ARN = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:evse-ops/prod/read-AbC123";

function withSecrets(stage: string, secrets: JsonObject): JsonObject {
  return { ...committedStage(stage), secrets };
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
      withSecrets("prod", {
        read: { import: READ_ARN },
        write: { import: "evse-ops/prod/write" },
        shareOneSecret: false,
      }),
    );
    shared = synthStage(
      "dev",
      withSecrets("dev", { read: { create: true }, shareOneSecret: true }),
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
    it("is keyed pk/sk (strings), on demand, encrypted with the AWS-managed key, with gsi1", () => {
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

  it("protects the prod stateful stack from deletion, and not dev's", () => {
    expect(prod.stateful.terminationProtection).toBe(true);
    expect(dev.stateful.terminationProtection).toBe(false);
  });

  describe("ev.energy secrets", () => {
    it("creates a read and a write placeholder secret whose value shows the expected shape", () => {
      dev.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 2);
      dev.statefulTemplate.allResourcesProperties("AWS::SecretsManager::Secret", {
        GenerateSecretString: Match.objectLike({
          SecretStringTemplate: JSON.stringify({ client_id: "REPLACE_ME" }),
          GenerateStringKey: "client_secret",
        }),
        Description: Match.stringLikeRegexp('\\{"client_id":"\\.\\.\\.","client_secret"'),
      });
      dev.statefulTemplate.allResources("AWS::SecretsManager::Secret", {
        DeletionPolicy: "Delete",
      });
      prod.statefulTemplate.allResources("AWS::SecretsManager::Secret", {
        DeletionPolicy: "Retain",
      });
      expect(dev.stateful.readSecret).not.toBe(dev.stateful.writeSecret);
    });

    it("imports secrets by ARN or by name instead of creating them", () => {
      imported.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 0);
      expect(imported.stateful.readSecret.secretArn).toBe(READ_ARN);
      expect(imported.stateful.readSecret.secretFullArn).toBe(READ_ARN);
      expect(imported.stateful.writeSecret.secretName).toBe("evse-ops/prod/write");
    });

    it("hands the poller the imported read secret's ARN and lets it read only that secret", () => {
      const template = JSON.stringify(imported.statelessTemplate.toJSON());

      imported.statelessTemplate.hasResourceProperties("AWS::Lambda::Function", {
        Environment: { Variables: Match.objectLike({ EVENERGY_SECRET_ID: READ_ARN }) },
      });
      imported.statelessTemplate.hasResourceProperties("AWS::IAM::Policy", {
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
      expect(template).not.toContain("evse-ops/prod/write");
    });

    it("uses the read secret for writing too when shareOneSecret is set", () => {
      shared.statefulTemplate.resourceCountIs("AWS::SecretsManager::Secret", 1);
      expect(shared.stateful.writeSecret).toBe(shared.stateful.readSecret);
      const outputs = shared.statefulTemplate.toJSON().Outputs;
      expect(isObject(outputs)).toBe(true);
      expect(outputs.WriteSecretArn.Value).toEqual(outputs.ReadSecretArn.Value);
    });
  });
});
