/**
 * Decides each AWS call with a maintained IAM policy simulator (@cloud-copilot/iam-simulate),
 * against the policies as deployed: the role's inline and managed policies read back from the
 * emulator's IAM, and the key policy for KMS calls (KMS needs both).
 *
 * A decision counts only when the simulator used exactly the keys supplied: a key it ignored
 * (not one the service sets for the action) or a condition, in a statement that applies to the
 * action and resource, on a key the recorder did not supply, fails the check, since either means
 * the decision rests on the recorder's model rather than on what the service would send.
 */

import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from "@aws-sdk/client-iam";
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient } from "@aws-sdk/client-kms";
import {
  runSimulation,
  type SimulationIdentityPolicy,
  type StatementExplain,
} from "@cloud-copilot/iam-simulate";
import type { Deployment } from "./deploy.js";
import { EMULATED, type Moto } from "./moto.js";
import type { DeployedFacts, IamRequest, KeyFacts, TableKeys } from "./policy-context.js";

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

export interface Verdict {
  readonly decision: Decision;
  /** Why the decision cannot be trusted; empty when it can. */
  readonly problems: readonly string[];
  /** Supplied keys the simulator dropped as not applying to the action. */
  readonly ignoredKeys: readonly string[];
  /** Keys a condition of an applicable statement is on, that were not supplied. */
  readonly unsuppliedKeys: readonly string[];
  /** Why the simulator could not run (an invalid policy, action or resource). */
  readonly simulationError?: string;
}

export interface PolicySource {
  /** The identity policies of the role with this ARN. */
  identityPolicies(roleArn: string): Promise<SimulationIdentityPolicy[]>;
  /** The resource policy a call on this resource is also decided by, if any. */
  resourcePolicy(resourceArn: string): Promise<unknown>;
}

/** Reads policies from the emulator once each and keeps them. */
export function deployedPolicies(moto: Moto): PolicySource {
  const iam = new IAMClient(moto.clientConfig);
  const kms = new KMSClient(moto.clientConfig);
  const roles = new Map<string, Promise<SimulationIdentityPolicy[]>>();
  const keys = new Map<string, Promise<unknown>>();
  // IAM answers policy documents URL-encoded; moto as written.
  const document = (text: string | undefined) => {
    const raw = text ?? "{}";
    return JSON.parse(raw.trimStart().startsWith("{") ? raw : decodeURIComponent(raw));
  };

  const load = async (roleArn: string): Promise<SimulationIdentityPolicy[]> => {
    const RoleName = roleArn.split("/").pop() ?? "";
    const inline = await iam.send(new ListRolePoliciesCommand({ RoleName }));
    const policies: SimulationIdentityPolicy[] = [];
    for (const PolicyName of inline.PolicyNames ?? []) {
      const found = await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }));
      policies.push({ name: PolicyName, policy: document(found.PolicyDocument) });
    }
    const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName }));
    for (const { PolicyArn } of attached.AttachedPolicies ?? []) {
      const policy = await iam.send(new GetPolicyCommand({ PolicyArn }));
      const version = await iam.send(
        new GetPolicyVersionCommand({ PolicyArn, VersionId: policy.Policy?.DefaultVersionId }),
      );
      policies.push({ name: PolicyArn ?? "", policy: document(version.PolicyVersion?.Document) });
    }
    return policies;
  };

  return {
    identityPolicies(roleArn) {
      let found = roles.get(roleArn);
      if (found === undefined) {
        found = load(roleArn);
        roles.set(roleArn, found);
      }
      return found;
    },
    resourcePolicy(resourceArn) {
      if (!resourceArn.includes(":kms:")) return Promise.resolve(undefined);
      let found = keys.get(resourceArn);
      if (found === undefined) {
        found = kms
          .send(new GetKeyPolicyCommand({ KeyId: resourceArn, PolicyName: "default" }))
          .then((answer) => JSON.parse(answer.Policy ?? "{}"));
        keys.set(resourceArn, found);
      }
      return found;
    },
  };
}

/**
 * Decides `request` made by `principal` (a role session's ARN) with the policies `policies`
 * gives for `roleArn`. Also used by test/infra/item-access.test.ts on synthesized policies.
 */
export async function decide(
  policies: PolicySource,
  principal: string,
  roleArn: string,
  request: IamRequest,
): Promise<Verdict> {
  const account = request.resource.split(":")[4] || (roleArn.split(":")[4] ?? "");
  const resourcePolicy = await policies.resourcePolicy(request.resource);
  const response = await runSimulation(
    {
      request: {
        principal,
        action: request.action,
        resource: { resource: request.resource, accountId: account },
        contextVariables: { ...request.context },
      },
      identityPolicies: await policies.identityPolicies(roleArn),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy === undefined ? {} : { resourcePolicy }),
    },
    {},
  );
  if (response.resultType === "error") {
    const message = `simulation error: ${JSON.stringify(response.errors)}`;
    return { ...verdict("ImplicitlyDenied", [message], [], []), simulationError: message };
  }
  if (response.resultType !== "single") {
    return verdict(response.overallResult, ["a wildcard resource was simulated"], [], []);
  }
  const { result } = response;
  const ignored = result.ignoredContextKeys ?? [];
  const supplied = new Set(Object.keys(request.context).map((key) => key.toLowerCase()));
  const analysis = result.analysis;
  const statements = [
    ...(analysis.identityAnalysis === undefined ? [] : allOf(analysis.identityAnalysis)),
    ...(analysis.resourceAnalysis === undefined ? [] : allOf(analysis.resourceAnalysis)),
  ];
  const problems: string[] = [];
  if (ignored.length > 0) {
    problems.push(`keys the service does not set for ${request.action}: ${ignored.join(", ")}`);
  }
  const unsupplied: string[] = [];
  for (const { explain } of statements) {
    if (!applies(explain)) continue;
    for (const condition of explain.conditions ?? []) {
      const key = condition.conditionKeyValue;
      if (supplied.has(key.toLowerCase())) continue;
      unsupplied.push(key);
      problems.push(
        `a condition (${condition.operator}) of statement ${explain.identifier} is on ${key}, which the recorder does not supply for ${request.action}`,
      );
    }
  }
  return verdict(response.overallResult, problems, ignored, unsupplied);
}

function verdict(
  decision: Decision,
  problems: string[],
  ignoredKeys: string[],
  unsuppliedKeys: string[],
): Verdict {
  return {
    decision,
    problems: [...new Set(problems)],
    ignoredKeys,
    unsuppliedKeys: [...new Set(unsuppliedKeys)],
  };
}

function allOf(analysis: {
  allowStatements: Array<{ explain: StatementExplain }>;
  denyStatements: Array<{ explain: StatementExplain }>;
  unmatchedStatements: Array<{ explain: StatementExplain }>;
}) {
  return [...analysis.allowStatements, ...analysis.denyStatements, ...analysis.unmatchedStatements];
}

/** A statement whose conditions decide this request: action, resource and principal match. */
function applies(explain: StatementExplain): boolean {
  return explain.actionMatch && explain.resourceMatch && explain.principalMatch !== "NoMatch";
}

/**
 * What the context builder must know of the deployed resources, read from the emulator: each
 * table's partition keys (of its indexes too), each KMS key's spec, usage and origin.
 */
export async function deployedFacts(moto: Moto, deployment: Deployment): Promise<DeployedFacts> {
  const partitionKey = (schema: Array<{ AttributeName?: string; KeyType?: string }> = []) =>
    schema.find((key) => key.KeyType === "HASH")?.AttributeName ?? "";
  const tables: Record<string, TableKeys> = {};
  const dynamodb = new DynamoDBClient(moto.clientConfig);
  for (const [logicalId, resource] of Object.entries(deployment.stateful.template.Resources)) {
    if (resource.Type !== "AWS::DynamoDB::Table") continue;
    const name = deployment.stateful.physicalIds[logicalId];
    if (name === undefined) throw new Error(`table ${logicalId} was not deployed`);
    const { Table: table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    tables[name] = {
      partitionKey: partitionKey(table?.KeySchema),
      indexes: Object.fromEntries(
        (table?.GlobalSecondaryIndexes ?? []).map((index) => [
          index.IndexName ?? "",
          partitionKey(index.KeySchema),
        ]),
      ),
    };
  }
  const keys: Record<string, KeyFacts> = {};
  const kms = new KMSClient(moto.clientConfig);
  for (const created of Object.values(deployment.created)) {
    if (!created.arn.includes(":kms:")) continue;
    const { KeyMetadata: key } = await kms.send(new DescribeKeyCommand({ KeyId: created.arn }));
    keys[created.arn] = {
      keySpec: key?.KeySpec ?? "",
      keyUsage: key?.KeyUsage ?? "",
      origin: key?.Origin ?? "",
    };
  }
  return { ...EMULATED, tables, keys, now: new Date() };
}
