/**
 * The rehearsal's policy check: what IAM is asked for each recorded AWS call
 * (scripts/rehearsal/policy-context.ts), and the decision with the simulator
 * (scripts/rehearsal/policy-check.ts), which refuses to count a decision that rests on a key
 * the recorder did not supply.
 */
import { describe, expect, it } from "vitest";
import { decide, type PolicySource } from "../../scripts/rehearsal/policy-check.js";
import {
  attributeNames,
  type DeployedFacts,
  iamRequests,
  partitionValue,
  type RecordedRequest,
  UnmodelledCall,
} from "../../scripts/rehearsal/policy-context.js";

const account = "123456789012";
const table = "state";
const tableArn = `arn:aws:dynamodb:eu-west-2:${account}:table/${table}`;
const keyArn = `arn:aws:kms:eu-west-2:${account}:key/k-1`;
const facts: DeployedFacts = {
  partition: "aws",
  region: "eu-west-2",
  account,
  tables: { [table]: { partitionKey: "pk", sortKey: "sk", indexes: { gsi1: "gsi1pk" } } },
  keys: { [keyArn]: { keySpec: "HMAC_256", keyUsage: "GENERATE_VERIFY_MAC", origin: "AWS_KMS" } },
  now: new Date("2026-03-02T08:00:00.000Z"),
};
const caller = {
  roleArn: `arn:aws:iam::${account}:role/executor`,
  sessionArn: `arn:aws:sts::${account}:assumed-role/executor/fn`,
  functionArn: `arn:aws:lambda:eu-west-2:${account}:function:fn`,
};

function only(call: RecordedRequest) {
  const requests = iamRequests(call, caller, facts);
  expect(requests).toHaveLength(1);
  const [request] = requests;
  if (request === undefined) throw new Error("no request");
  return request;
}

/** The DynamoDB part of a request's context. */
function dynamo(context: Readonly<Record<string, unknown>>) {
  return Object.fromEntries(Object.entries(context).filter(([key]) => key.startsWith("dynamodb:")));
}

const completion: RecordedRequest = {
  service: "dynamodb",
  operation: "UpdateItem",
  body: {
    TableName: table,
    Key: { pk: { S: "EVSE" }, sk: { S: "evse01" } },
    UpdateExpression: "SET lifecycle = :d, lastChangedAt = :at ADD version :one",
    ConditionExpression: "attribute_exists(pk) AND lifecycle <> :d",
    ExpressionAttributeValues: { ":d": { S: "decommissioned" } },
    ReturnValues: "NONE",
  },
};

describe("the condition keys of a recorded call", () => {
  it("UpdateItem: the partition key, every attribute the request names, its ReturnValues", () => {
    const request = only(completion);
    expect(request.action).toBe("dynamodb:UpdateItem");
    expect(request.resource).toBe(tableArn);
    expect(dynamo(request.context)).toEqual({
      "dynamodb:LeadingKeys": ["EVSE"],
      "dynamodb:Attributes": ["pk", "sk", "lifecycle", "lastChangedAt", "version"],
      "dynamodb:ReturnValues": "NONE",
    });
  });

  it("every call: the role as aws:PrincipalArn, and the function Lambda vouches for", () => {
    const { context } = only(completion);
    expect(context["aws:PrincipalArn"]).toBe(caller.roleArn);
    expect(context["lambda:SourceFunctionArn"]).toBe(caller.functionArn);
    expect(context["aws:CurrentTime"]).toBe("2026-03-02T08:00:00Z");
  });

  it("PutItem: the item's partition key and attributes; ReturnValues NONE when the request names none", () => {
    const request = only({
      service: "dynamodb",
      operation: "PutItem",
      body: {
        TableName: table,
        Item: { pk: { S: "DCR" }, sk: { S: "dcr_1" }, status: { S: "PENDING" } },
        ConditionExpression: "attribute_not_exists(#pk)",
        ExpressionAttributeNames: { "#pk": "pk" },
      },
    });
    expect(dynamo(request.context)).toEqual({
      "dynamodb:LeadingKeys": ["DCR"],
      "dynamodb:Attributes": ["pk", "sk", "status"],
      "dynamodb:ReturnValues": "NONE",
    });
  });

  it("GetItem without a projection reads every attribute: dynamodb:Attributes is not supplied", () => {
    const request = only({
      service: "dynamodb",
      operation: "GetItem",
      body: { TableName: table, Key: { pk: { S: "CONTROL" }, sk: { S: "X" } } },
    });
    expect(dynamo(request.context)).toEqual({ "dynamodb:LeadingKeys": ["CONTROL"] });
  });

  it("Query: the partition key's value from the key condition, of the index when one is queried", () => {
    const request = only({
      service: "dynamodb",
      operation: "Query",
      body: {
        TableName: table,
        IndexName: "gsi1",
        KeyConditionExpression: "#p = :partition AND gsi1sk BETWEEN :a AND :b",
        ExpressionAttributeNames: { "#p": "gsi1pk" },
        ExpressionAttributeValues: { ":partition": { S: "DCR_STATUS#APPROVED" } },
      },
    });
    expect(request.resource).toBe(`${tableArn}/index/gsi1`);
    expect(dynamo(request.context)).toEqual({
      "dynamodb:LeadingKeys": ["DCR_STATUS#APPROVED"],
      "dynamodb:Select": "ALL_ATTRIBUTES",
    });
  });

  it("BatchGetItem: every partition key it reads", () => {
    const request = only({
      service: "dynamodb",
      operation: "BatchGetItem",
      body: {
        RequestItems: {
          [table]: {
            Keys: [
              { pk: { S: "DCR" }, sk: { S: "a" } },
              { pk: { S: "DCR" }, sk: { S: "b" } },
              { pk: { S: "EVSE" }, sk: { S: "c" } },
            ],
          },
        },
      },
    });
    expect(dynamo(request.context)).toEqual({ "dynamodb:LeadingKeys": ["DCR", "EVSE"] });
  });

  it("PutEvents: every entry's source and detail-type, as one multivalued request per bus", () => {
    const request = only({
      service: "events",
      operation: "PutEvents",
      body: {
        Entries: [
          { EventBusName: "bus", Source: "evse-ops", DetailType: "EVSE Discovered" },
          { EventBusName: "bus", Source: "evse-ops", DetailType: "EVSE Removed" },
        ],
      },
    });
    expect(request.resource).toBe(`arn:aws:events:eu-west-2:${account}:event-bus/bus`);
    expect(request.context["events:source"]).toEqual(["evse-ops"]);
    expect(request.context["events:detail-type"]).toEqual(["EVSE Discovered", "EVSE Removed"]);
  });

  it("Secrets Manager, KMS and SQS: the resource the request names, and their keys", () => {
    const secret = `arn:aws:secretsmanager:eu-west-2:${account}:secret:read-AbCdEf`;
    const read = only({
      service: "secretsmanager",
      operation: "GetSecretValue",
      body: { SecretId: secret },
    });
    expect([read.resource, read.context["secretsmanager:SecretId"]]).toEqual([secret, secret]);
    const mac = only({
      service: "kms",
      operation: "VerifyMac",
      body: { KeyId: keyArn, MacAlgorithm: "HMAC_SHA_256" },
    });
    expect(mac.context["kms:MacAlgorithm"]).toBe("HMAC_SHA_256");
    expect(mac.context["kms:KeySpec"]).toBe("HMAC_256");
    const visibility = only({
      service: "sqs",
      operation: "ChangeMessageVisibility",
      body: { QueueUrl: `https://sqs.eu-west-2.amazonaws.com/${account}/execution` },
    });
    expect(visibility.resource).toBe(`arn:aws:sqs:eu-west-2:${account}:execution`);
  });

  it("refuses to guess: a call it does not model, a secret by name, an unknown key", () => {
    for (const call of [
      { service: "dynamodb", operation: "Scan", body: { TableName: table } },
      { service: "s3", operation: "GET /bucket", body: {} },
      { service: "secretsmanager", operation: "GetSecretValue", body: { SecretId: "read" } },
      { service: "kms", operation: "GenerateMac", body: { KeyId: "alias/other" } },
    ]) {
      expect(() => iamRequests(call, caller, facts), call.operation).toThrow(UnmodelledCall);
    }
  });

  it("reads attribute names and partition values out of expressions", () => {
    expect(
      attributeNames("SET #a.b[0] = :v, c = if_not_exists(c, :z) REMOVE d", { "#a": "a" }),
    ).toEqual(["a", "c", "c", "d"]);
    expect(attributeNames("attribute_not_exists(pk) OR #o = :o", { "#o": "owner" })).toEqual([
      "pk",
      "owner",
    ]);
    expect(partitionValue("sk > :after AND pk = :pk", "pk", {})).toBe(":pk");
    expect(partitionValue("sk = :sk", "pk", {})).toBeUndefined();
  });
});

/** The executor's device grant as infra's grantDeviceCompletion writes it. */
const completionGrant: PolicySource = {
  identityPolicies: async () => [
    {
      name: "executor",
      policy: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: "dynamodb:UpdateItem",
            Resource: tableArn,
            Condition: {
              "ForAllValues:StringEquals": {
                "dynamodb:LeadingKeys": ["EVSE"],
                "dynamodb:Attributes": ["pk", "sk", "lifecycle", "lastChangedAt", "version"],
              },
              StringEqualsIfExists: { "dynamodb:ReturnValues": "NONE" },
              Null: { "dynamodb:LeadingKeys": "false" },
            },
          },
        ],
      },
    },
  ],
  resourcePolicy: async () => undefined,
};

describe("deciding a call", () => {
  it("allows the completion as made, with nothing left to doubt", async () => {
    const verdict = await decide(
      completionGrant,
      caller.sessionArn,
      caller.roleArn,
      only(completion),
    );
    expect(verdict).toMatchObject({ decision: "Allowed", problems: [] });
  });

  it("denies a device attribute beyond the completion's", async () => {
    const request = only({
      ...completion,
      body: { ...completion.body, UpdateExpression: "SET cpid = :d" },
    });
    expect(
      (await decide(completionGrant, caller.sessionArn, caller.roleArn, request)).decision,
    ).toBe("ImplicitlyDenied");
  });

  it("does not count an allow that rests on a key the recorder left out", async () => {
    const request = only(completion);
    const { "dynamodb:Attributes": _left, ...context } = request.context;
    const verdict = await decide(completionGrant, caller.sessionArn, caller.roleArn, {
      ...request,
      context,
    });
    // ForAllValues is true of a missing key: IAM alone would allow this.
    expect(verdict.decision).toBe("Allowed");
    expect(verdict.unsuppliedKeys).toEqual(["dynamodb:Attributes"]);
    expect(verdict.problems).toEqual([
      expect.stringContaining("is on dynamodb:Attributes, which the recorder does not supply"),
    ]);
  });

  it("does not count a decision made with a key the service does not set for the action", async () => {
    const request = only(completion);
    const verdict = await decide(completionGrant, caller.sessionArn, caller.roleArn, {
      ...request,
      context: { ...request.context, "events:source": "evse-ops" },
    });
    expect(verdict.ignoredKeys).toEqual(["events:source"]);
  });

  it("applies the key policy to KMS calls: its Deny wins over the role's Allow", async () => {
    const policies: PolicySource = {
      identityPolicies: async () => [
        {
          name: "mac",
          policy: {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "kms:GenerateMac", Resource: keyArn }],
          },
        },
      ],
      resourcePolicy: async () => ({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: `arn:aws:iam::${account}:root` },
            Action: "kms:*",
            Resource: "*",
          },
          {
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "kms:GenerateMac",
            Resource: "*",
            Condition: { ArnNotEquals: { "aws:PrincipalArn": `arn:aws:iam::${account}:role/api` } },
          },
        ],
      }),
    };
    const request = only({
      service: "kms",
      operation: "GenerateMac",
      body: { KeyId: keyArn, MacAlgorithm: "HMAC_SHA_256" },
    });
    expect((await decide(policies, caller.sessionArn, caller.roleArn, request)).decision).toBe(
      "ExplicitlyDenied",
    );
    const api = { ...caller, roleArn: `arn:aws:iam::${account}:role/api` };
    const asApi = iamRequests(
      {
        service: "kms",
        operation: "GenerateMac",
        body: { KeyId: keyArn, MacAlgorithm: "HMAC_SHA_256" },
      },
      api,
      facts,
    )[0];
    if (asApi === undefined) throw new Error("no request");
    expect(
      await decide(policies, `arn:aws:sts::${account}:assumed-role/api/fn`, api.roleArn, asApi),
    ).toMatchObject({ decision: "Allowed", problems: [] });
  });
});
