/**
 * The rehearsal's template adjustments (scripts/rehearsal/adjustments.ts) on templates in the
 * shapes CDK synthesizes: each changes what it names and nothing else, and each refuses, naming
 * itself, when the template no longer has what it adjusts or has properties it was not written
 * for. `npm run rehearse` applies them to the real templates.
 */
import { describe, expect, it } from "vitest";
import {
  AdjustmentNoLongerApplies,
  archivePatternAsText,
  createdOutsideCloudFormation,
  crossStackOutputsResolved,
  evEnergyIsTheSimulator,
  eventsRefAsName,
  globalTableAsTable,
  kmsTagsInApiShape,
  type Resource,
  resolvePseudo,
  skippedAlarmArns,
  skippedStageNames,
  skippedTypes,
  type Template,
} from "../../scripts/rehearsal/adjustments.js";

const pseudo = { partition: "aws", region: "eu-west-2", account: "123456789012" };
const input = { pseudo };
const tags = [{ Key: "stage", Value: "dev" }];

function template(resources: Record<string, Resource>, outputs?: Template["Outputs"]): Template {
  return { Resources: resources, ...(outputs === undefined ? {} : { Outputs: outputs }) };
}

const globalTable: Resource = {
  Type: "AWS::DynamoDB::GlobalTable",
  Properties: {
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
    BillingMode: "PAY_PER_REQUEST",
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    Replicas: [
      {
        Region: { Ref: "AWS::Region" },
        DeletionProtectionEnabled: false,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        Tags: tags,
      },
    ],
    SSESpecification: { SSEEnabled: true, SSEType: "KMS" },
    TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
  },
  DeletionPolicy: "Delete",
};

const hmacKey: Resource = {
  Type: "AWS::KMS::Key",
  Properties: {
    Description: "signs approvals",
    KeySpec: "HMAC_256",
    KeyUsage: "GENERATE_VERIFY_MAC",
    KeyPolicy: {
      Statement: [
        {
          Effect: "Deny",
          Action: "kms:GenerateMac",
          Principal: { AWS: "*" },
          Resource: "*",
          Condition: {
            ArnNotEquals: {
              "aws:PrincipalArn": {
                "Fn::Join": [
                  "",
                  [
                    "arn:",
                    { Ref: "AWS::Partition" },
                    ":iam::",
                    { Ref: "AWS::AccountId" },
                    ":role/api",
                  ],
                ],
              },
            },
          },
        },
      ],
    },
    Tags: tags,
  },
};

const secret: Resource = {
  Type: "AWS::SecretsManager::Secret",
  Properties: {
    Description: "read credential",
    GenerateSecretString: { SecretStringTemplate: '{"client_id":"REPLACE_ME"}' },
    Tags: tags,
  },
};

describe("globalTableAsTable", () => {
  it("makes the one-replica global table a table with the same keys, billing, encryption, TTL and recovery", () => {
    const adjusted = globalTableAsTable.apply(template({ Table: globalTable }), input);
    expect(adjusted.Resources.Table).toEqual({
      Type: "AWS::DynamoDB::Table",
      Properties: {
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        SSESpecification: { SSEEnabled: true, SSEType: "KMS" },
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        DeletionProtectionEnabled: false,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        Tags: tags,
      },
      DeletionPolicy: "Delete",
    });
  });

  it("refuses a table it would change the meaning of: a replica elsewhere, a property it does not know", () => {
    const elsewhere = structuredClone(globalTable);
    (elsewhere.Properties as { Replicas: Array<{ Region: unknown }> }).Replicas[0] = {
      Region: "us-east-1",
    };
    expect(() => globalTableAsTable.apply(template({ Table: elsewhere }), input)).toThrow(
      /global table as a table.*elsewhere/,
    );
    const streamed = structuredClone(globalTable);
    (streamed.Properties as Record<string, unknown>).StreamSpecification = {};
    expect(() => globalTableAsTable.apply(template({ Table: streamed }), input)).toThrow(
      /StreamSpecification/,
    );
  });

  it("no longer applies to a template without a global table", () => {
    expect(() => globalTableAsTable.apply(template({}), input)).toThrow(AdjustmentNoLongerApplies);
  });
});

describe("archivePatternAsText and kmsTagsInApiShape", () => {
  it("turn an archive's pattern into its JSON text and a key's tags into TagKey/TagValue", () => {
    const archive: Resource = {
      Type: "AWS::Events::Archive",
      Properties: { EventPattern: { source: ["evse-ops"] }, RetentionDays: 7 },
    };
    expect(
      archivePatternAsText.apply(template({ Archive: archive }), input).Resources.Archive,
    ).toEqual({
      Type: "AWS::Events::Archive",
      Properties: { EventPattern: '{"source":["evse-ops"]}', RetentionDays: 7 },
    });
    const key: Resource = {
      Type: "AWS::KMS::Key",
      Properties: { EnableKeyRotation: true, Tags: tags },
    };
    expect(
      kmsTagsInApiShape.apply(template({ Key: key }), input).Resources.Key?.Properties,
    ).toEqual({ EnableKeyRotation: true, Tags: [{ TagKey: "stage", TagValue: "dev" }] });
  });

  it("no longer apply once nothing has that shape", () => {
    const archive: Resource = {
      Type: "AWS::Events::Archive",
      Properties: { EventPattern: '{"source":["x"]}' },
    };
    expect(() => archivePatternAsText.apply(template({ Archive: archive }), input)).toThrow(
      /archive event pattern as text/,
    );
    expect(() =>
      kmsTagsInApiShape.apply(template({ Key: { Type: "AWS::KMS::Key", Properties: {} } }), input),
    ).toThrow(/KMS key tags/);
  });
});

describe("eventsRefAsName", () => {
  it("replaces Ref of the bus and the archive by their names, everywhere", () => {
    const adjusted = eventsRefAsName.apply(
      template(
        {
          Bus: { Type: "AWS::Events::EventBus", Properties: { Name: "evse-ops-dev" } },
          Archive: {
            Type: "AWS::Events::Archive",
            Properties: { ArchiveName: "evse-ops-dev-events" },
          },
        },
        {
          BusName: { Value: { Ref: "Bus" } },
          ArchiveName: { Value: { Ref: "Archive" } },
          BusArn: { Value: { "Fn::GetAtt": ["Bus", "Arn"] } },
        },
      ),
      input,
    );
    expect(adjusted.Outputs).toEqual({
      BusName: { Value: "evse-ops-dev" },
      ArchiveName: { Value: "evse-ops-dev-events" },
      BusArn: { Value: { "Fn::GetAtt": ["Bus", "Arn"] } },
    });
  });

  it("refuses a bus without a literal name, and no longer applies without a Ref to one", () => {
    const unnamed = template({ Bus: { Type: "AWS::Events::EventBus", Properties: {} } });
    expect(() => eventsRefAsName.apply(unnamed, input)).toThrow(/no literal Name/);
    const unreferenced = template({
      Bus: { Type: "AWS::Events::EventBus", Properties: { Name: "b" } },
    });
    expect(() => eventsRefAsName.apply(unreferenced, input)).toThrow(AdjustmentNoLongerApplies);
  });
});

describe("createdOutsideCloudFormation", () => {
  const stack = template(
    {
      Read: secret,
      ApprovalKey: hmacKey,
      AlarmKey: { Type: "AWS::KMS::Key", Properties: { EnableKeyRotation: true } },
    },
    {
      ReadArn: { Value: { Ref: "Read" } },
      KeyArn: { Value: { "Fn::GetAtt": ["ApprovalKey", "Arn"] } },
      KeyId: { Value: { Ref: "ApprovalKey" } },
    },
  );

  it("hands the secrets and the HMAC key (not a symmetric key) to the API, pseudo parameters resolved", () => {
    const resources = createdOutsideCloudFormation.outOfBand?.(stack, input) ?? [];
    expect(resources.map(({ logicalId, type }) => [logicalId, type])).toEqual([
      ["Read", "AWS::SecretsManager::Secret"],
      ["ApprovalKey", "AWS::KMS::Key"],
    ]);
    expect(JSON.stringify(resources[1]?.properties)).toContain(
      '"aws:PrincipalArn":"arn:aws:iam::123456789012:role/api"',
    );
  });

  it("takes them out of the template and points every Ref and Fn::GetAtt Arn at what was created", () => {
    const created = {
      Read: { ref: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:Read-x-AbCdEf", arn: "" },
      ApprovalKey: { ref: "key-id", arn: "arn:aws:kms:eu-west-2:123456789012:key/key-id" },
    };
    created.Read.arn = created.Read.ref;
    const adjusted = createdOutsideCloudFormation.apply(stack, { ...input, created });
    expect(Object.keys(adjusted.Resources)).toEqual(["AlarmKey"]);
    expect(adjusted.Outputs).toEqual({
      ReadArn: { Value: created.Read.ref },
      KeyArn: { Value: created.ApprovalKey.arn },
      KeyId: { Value: "key-id" },
    });
  });

  it("refuses a secret property it would not carry over", () => {
    const replicated = template({
      Read: { ...secret, Properties: { ...(secret.Properties as object), ReplicaRegions: [] } },
    });
    expect(() => createdOutsideCloudFormation.outOfBand?.(replicated, input)).toThrow(
      /ReplicaRegions/,
    );
  });
});

describe("crossStackOutputsResolved", () => {
  const consumer = template({
    Fn: {
      Type: "AWS::Lambda::Function",
      Properties: {
        Environment: {
          Variables: {
            TABLE_NAME: {
              "Fn::GetStackOutput": {
                StackName: "producer",
                Region: { Ref: "AWS::Region" },
                OutputName: "TableOut",
              },
            },
          },
        },
      },
    },
  });

  it("puts the producing stack's deployed output where the reference was", () => {
    const adjusted = crossStackOutputsResolved.apply(consumer, {
      ...input,
      producerStackName: "producer",
      producerOutputs: { TableOut: "table-1" },
    });
    expect(JSON.stringify(adjusted)).toContain('"TABLE_NAME":"table-1"');
  });

  it("refuses a reference to another stack, and fails on an output the producer lacks", () => {
    expect(() =>
      crossStackOutputsResolved.apply(consumer, { ...input, producerStackName: "other" }),
    ).toThrow(/an output of producer is used/);
    expect(() =>
      crossStackOutputsResolved.apply(consumer, {
        ...input,
        producerStackName: "producer",
        producerOutputs: {},
      }),
    ).toThrow(/has no output TableOut/);
  });
});

describe("skippedAlarmArns and evEnergyIsTheSimulator", () => {
  it("give the dashboard the alarm's ARN from its name", () => {
    const adjusted = skippedAlarmArns.apply(
      template({
        Alarm: { Type: "AWS::CloudWatch::Alarm", Properties: { AlarmName: "poll-errors" } },
        Board: {
          Type: "AWS::CloudWatch::Dashboard",
          Properties: {
            DashboardBody: { "Fn::Join": ["", ['["', { "Fn::GetAtt": ["Alarm", "Arn"] }, '"]']] },
          },
        },
      }),
      input,
    );
    expect(JSON.stringify(adjusted.Resources.Board)).toContain(
      "arn:aws:cloudwatch:eu-west-2:123456789012:alarm:poll-errors",
    );
  });

  it("point exactly the configured ev.energy URLs at the simulator, and refuse when one is no longer used", () => {
    const functions = template({
      Fn: {
        Type: "AWS::Lambda::Function",
        Properties: {
          Environment: {
            Variables: {
              EVENERGY_API_URL: "https://api.ev.energy/v2",
              EVENERGY_TOKEN_URL: "https://api.ev.energy/o/token/",
              OTHER: "https://api.ev.energy/v2/x",
            },
          },
        },
      },
    });
    const evEnergy = {
      configured: {
        apiBaseUrl: "https://api.ev.energy/v2",
        tokenUrl: "https://api.ev.energy/o/token/",
      },
      simulator: { apiBaseUrl: "http://127.0.0.1:1/v2", tokenUrl: "http://127.0.0.1:1/o/token/" },
    };
    const adjusted = evEnergyIsTheSimulator.apply(functions, { ...input, evEnergy });
    expect(adjusted.Resources.Fn?.Properties).toEqual({
      Environment: {
        Variables: {
          EVENERGY_API_URL: "http://127.0.0.1:1/v2",
          EVENERGY_TOKEN_URL: "http://127.0.0.1:1/o/token/",
          OTHER: "https://api.ev.energy/v2/x",
        },
      },
    });
    const renamed = template({
      Fn: {
        Type: "AWS::Lambda::Function",
        Properties: {
          Environment: { Variables: { EVENERGY_URL: "https://api.ev.energy/v2" } },
        },
      },
    });
    expect(() => evEnergyIsTheSimulator.apply(renamed, { ...input, evEnergy })).toThrow(
      /no function is given https:\/\/api.ev.energy\/o\/token\//,
    );
  });
});

describe("resolvePseudo and skippedTypes", () => {
  it("resolve pseudo parameters and refuse anything else", () => {
    expect(resolvePseudo({ "Fn::Join": [":", [{ Ref: "AWS::Region" }, "x"]] }, pseudo)).toBe(
      "eu-west-2:x",
    );
    expect(() => resolvePseudo({ "Fn::Join": ["", [{ Ref: "Bucket" }]] }, pseudo)).toThrow(
      /cannot resolve/,
    );
  });

  it("lists each type of the resources not deployed once, sorted", () => {
    const stack = template({
      A: { Type: "AWS::CloudWatch::Alarm" },
      B: { Type: "AWS::CloudWatch::Alarm" },
      C: { Type: "AWS::SQS::Queue" },
      D: { Type: "AWS::CDK::Metadata" },
    });
    expect(skippedTypes(stack, new Set(["C"]))).toEqual([
      "AWS::CDK::Metadata",
      "AWS::CloudWatch::Alarm",
    ]);
  });
});

describe("skippedStageNames", () => {
  const permission = (stageRef: string): Resource => ({
    Type: "AWS::Lambda::Permission",
    Properties: {
      SourceArn: { "Fn::Join": ["", ["arn:aws:execute-api:…:api/", { Ref: stageRef }, "/POST/x"]] },
    },
  });

  it("gives a Ref of a stage its StageName", () => {
    const adjusted = skippedStageNames.apply(
      template({
        Stage: { Type: "AWS::ApiGateway::Stage", Properties: { StageName: "dev" } },
        Permission: permission("Stage"),
        Other: { Type: "AWS::SQS::Queue", Properties: { QueueName: { Ref: "Queue" } } },
      }),
      input,
    );
    expect(adjusted.Resources.Permission?.Properties).toEqual({
      SourceArn: { "Fn::Join": ["", ["arn:aws:execute-api:…:api/", "dev", "/POST/x"]] },
    });
    expect(adjusted.Resources.Other?.Properties).toEqual({ QueueName: { Ref: "Queue" } });
  });

  it("fails once no stage is referenced, or a stage's name is not literal", () => {
    expect(() =>
      skippedStageNames.apply(
        template({ Stage: { Type: "AWS::ApiGateway::Stage", Properties: { StageName: "dev" } } }),
        input,
      ),
    ).toThrow(AdjustmentNoLongerApplies);
    expect(() =>
      skippedStageNames.apply(
        template({
          Stage: { Type: "AWS::ApiGateway::Stage", Properties: { StageName: { Ref: "Name" } } },
          Permission: permission("Stage"),
        }),
        input,
      ),
    ).toThrow(AdjustmentNoLongerApplies);
  });
});
