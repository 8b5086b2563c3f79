/**
 * Approvers: the role the stack creates, Identity Center permission sets and exact role ARNs
 * become one list of approver roles, which the API function decides on and the API's resource
 * policy enforces on the approve and reject routes. The policies are proven with an IAM policy
 * simulator (@cloud-copilot/iam-simulate) on the synthesised templates, resolved to the ARNs
 * they would have once deployed (helpers: DEPLOYED, concreteValue).
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  committedStage,
  concretePoliciesOfRole,
  concreteValue,
  DEPLOYED,
  findings,
  getAtt,
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

const OTHER_ACCOUNT = "210987654321";
const PERMISSION_SET = "DecommissionApprover";
const BREAK_GLASS = `arn:aws:iam::${OTHER_ACCOUNT}:role/ops/break-glass-approver`;
const SSO_SUFFIX = "0123456789abcdef";

/** prod pinned to DEPLOYED, with every kind of approver and a second admitted account. */
function everySource(): JsonObject {
  const settings = committedStage("prod");
  const decommission = isObject(settings.decommission) ? settings.decommission : {};
  return {
    ...settings,
    env: { account: DEPLOYED.account, region: DEPLOYED.region },
    decommission: {
      ...decommission,
      allowedAccounts: [DEPLOYED.account, OTHER_ACCOUNT],
      approvers: {
        createRole: true,
        identityCenterPermissionSets: [PERMISSION_SET],
        roleArns: [BREAK_GLASS],
        acknowledgeUnpinnedSessionNames: true,
      },
    },
  };
}

/** dev with Identity Center as the only approvers. */
function identityCenterOnly(): JsonObject {
  const settings = committedStage("dev");
  const decommission = isObject(settings.decommission) ? settings.decommission : {};
  return {
    ...settings,
    decommission: {
      ...decommission,
      approvers: { createRole: false, identityCenterPermissionSets: [PERMISSION_SET] },
    },
  };
}

function approverRole(stage: SynthesisedStage): IConstruct {
  const role = stage.stateless.approvers.role;
  if (role === undefined) throw new Error("the stage creates no approver role");
  return role;
}

function apiEnvironment(stage: SynthesisedStage): JsonObject {
  const fn = properties(
    resourceOf(stage.statelessTemplate, stage.stateless.decommission.apiFunction.function),
  );
  const variables = isObject(fn.Environment) ? fn.Environment.Variables : undefined;
  if (!isObject(variables)) throw new Error("the API function has no environment");
  return variables;
}

/** The API's resource policy as API Gateway would hold it once deployed at DEPLOYED. */
function deployedResourcePolicy(stage: SynthesisedStage): Json {
  const api = properties(resourceOf(stage.statelessTemplate, stage.stateless.decommission.api));
  // API Gateway expands the `execute-api:/` shorthand to the API's own ARN when it stores it.
  const own = `arn:aws:execute-api:${DEPLOYED.region}:${DEPLOYED.account}:${DEPLOYED.apiId}/`;
  return JSON.parse(
    JSON.stringify(concreteValue(stage, api.Policy)).replaceAll('"execute-api:/', `"${own}`),
  );
}

/** `ArnNotLike aws:PrincipalArn` of the resource policy's approve/reject Deny, resolved. */
function deniedUnlessLike(stage: SynthesisedStage): Json {
  const policy = deployedResourcePolicy(stage);
  const statements = isObject(policy) && Array.isArray(policy.Statement) ? policy.Statement : [];
  const deny = statements.find(
    (statement) => isObject(statement) && statement.Sid === "DenyDecisionsByNonApprovers",
  );
  const condition = isObject(deny) && isObject(deny.Condition) ? deny.Condition : {};
  const arnNotLike = isObject(condition.ArnNotLike) ? condition.ArnNotLike : {};
  return arnNotLike["aws:PrincipalArn"] ?? null;
}

function route(stage: SynthesisedStage, method: string, path: string): string {
  return `arn:aws:execute-api:${DEPLOYED.region}:${DEPLOYED.account}:${DEPLOYED.apiId}/${stage.config.stage}/${method}${path}`;
}

/** An identity policy allowing every route of the API: what a careless admin might attach. */
const INVOKE_EVERYTHING = {
  name: "invoke-everything",
  policy: {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "execute-api:Invoke", Resource: "*" }],
  },
};

type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

describe("approver access", () => {
  let dev: SynthesisedStage;
  let all: SynthesisedStage;
  let ssoOnly: SynthesisedStage;

  beforeAll(() => {
    dev = synthStage("dev");
    all = synthStage("prod", everySource());
    ssoOnly = synthStage("dev", identityCenterOnly());
  });

  afterAll(() => {
    for (const stage of [dev, all, ssoOnly]) stage?.cleanUp();
  });

  describe("the approver role", () => {
    it("is named after the stage and trusts only the account's IAM users, each under their own name", () => {
      const role = properties(resourceOf(dev.statelessTemplate, approverRole(dev)));

      expect(role.RoleName).toBe("evse-ops-dev-approver");
      expect(role.AssumeRolePolicyDocument).toEqual({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: "sts:AssumeRole",
            Principal: {
              AWS: {
                "Fn::Join": [
                  "",
                  ["arn:", { Ref: "AWS::Partition" }, ":iam::", { Ref: "AWS::AccountId" }, ":root"],
                ],
              },
            },
            Condition: {
              StringEquals: {
                "aws:PrincipalType": "User",
                // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM's policy variable, as IAM must receive it.
                "sts:RoleSessionName": "${aws:username}",
              },
            },
          },
        ],
      });
      expect(role.ManagedPolicyArns).toBeUndefined();
    });

    it("may call only the read, approve and reject routes of its own API stage", () => {
      const api = logicalId(dev.stateless.decommission.api);
      const stage = logicalId(dev.stateless.decommission.api.deploymentStage);
      const arn = (method: string, path: string) => ({
        "Fn::Join": [
          "",
          [
            "arn:",
            { Ref: "AWS::Partition" },
            ":execute-api:",
            { Ref: "AWS::Region" },
            ":",
            { Ref: "AWS::AccountId" },
            ":",
            { Ref: api },
            "/",
            { Ref: stage },
            `/${method}${path}`,
          ],
        ],
      });

      expect(
        statementsOfRole(dev.statelessTemplate, logicalId(approverRole(dev)), dev.statefulTemplate),
      ).toEqual([
        {
          actions: ["execute-api:Invoke"],
          resources: [
            arn("GET", "/decommission-requests*"),
            arn("GET", "/evses*"),
            arn("POST", "/decommission-requests/*/approve"),
            arn("POST", "/decommission-requests/*/reject"),
          ],
        },
      ]);
    });

    it("is an output of the stateless stack, and not created when createRole is false", () => {
      const outputs = dev.statelessTemplate.toJSON().Outputs;
      expect(isObject(outputs) && isObject(outputs.ApproverRoleArn)).toBe(true);
      if (isObject(outputs) && isObject(outputs.ApproverRoleArn)) {
        expect(outputs.ApproverRoleArn.Value).toEqual(getAtt(approverRole(dev)));
      }

      expect(ssoOnly.stateless.approvers.role).toBeUndefined();
      const roles: Record<string, Json> = ssoOnly.statelessTemplate.findResources("AWS::IAM::Role");
      expect(JSON.stringify(roles)).not.toContain("-approver");
      expect(Object.keys(ssoOnly.statelessTemplate.toJSON().Outputs ?? {})).not.toContain(
        "ApproverRoleArn",
      );
    });
  });

  describe("one list of approver roles", () => {
    it("is what the API function decides on and what the resource policy enforces", () => {
      for (const stage of [dev, all, ssoOnly]) {
        const listed = String(concreteValue(stage, apiEnvironment(stage).APPROVER_ROLE_ARNS));
        expect(listed.split(","), stage.config.stage).toEqual(deniedUnlessLike(stage));
      }
    });

    it("holds the created role, the permission sets' roles (exactly 16 characters of suffix) and the listed roles", () => {
      expect(String(concreteValue(all, apiEnvironment(all).APPROVER_ROLE_ARNS)).split(",")).toEqual(
        [
          `arn:aws:iam::${DEPLOYED.account}:role/evse-ops-prod-approver`,
          `arn:aws:iam::${DEPLOYED.account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_${PERMISSION_SET}_????????????????`,
          `arn:aws:iam::${DEPLOYED.account}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_${PERMISSION_SET}_????????????????`,
          BREAK_GLASS,
        ],
      );
      expect(
        String(concreteValue(ssoOnly, apiEnvironment(ssoOnly).APPROVER_ROLE_ARNS)).split(","),
      ).toEqual([
        `arn:aws:iam::${DEPLOYED.account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_${PERMISSION_SET}_????????????????`,
        `arn:aws:iam::${DEPLOYED.account}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_${PERMISSION_SET}_????????????????`,
      ]);
    });

    it("keeps the shape the functions accept: one named account, path included", () => {
      // functions/config.ts, APPROVER_ROLE_ARNS.
      const shape = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\x21-\x7E]*\/)?[\w+=,.@*?-]{1,64}$/;
      for (const stage of [dev, all, ssoOnly]) {
        const listed = String(concreteValue(stage, apiEnvironment(stage).APPROVER_ROLE_ARNS));
        for (const arn of listed.split(",")) expect(arn).toMatch(shape);
      }
    });

    it("leaves no unacknowledged nag finding with every source, in a stage pinned to an account", () => {
      expect(findings(all.report)).toEqual([]);
      expect(findings(ssoOnly.report)).toEqual([]);
    });
  });

  describe("the resource policy, simulated", () => {
    /**
     * What IAM decides when a session of the role `roleArn` (path included) calls `resource`,
     * its own account granting it `identityPolicy`.
     */
    async function invoke(
      stage: SynthesisedStage,
      roleArn: string,
      resource: string,
      identityPolicy: { name: string; policy: Json } = INVOKE_EVERYTHING,
    ): Promise<Decision> {
      const [, , , , account = "", rolePart = ""] = roleArn.split(":");
      const roleName = rolePart.split("/").pop() ?? "";
      const response = await runSimulation(
        {
          request: {
            principal: `arn:aws:sts::${account}:assumed-role/${roleName}/alice`,
            action: "execute-api:Invoke",
            resource: { resource, accountId: DEPLOYED.account },
            contextVariables: { "aws:PrincipalArn": roleArn, "aws:PrincipalAccount": account },
          },
          identityPolicies: [identityPolicy],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: deployedResourcePolicy(stage),
        },
        {},
      );
      if (response.resultType !== "single") {
        throw new Error(`the simulation did not run: ${JSON.stringify(response)}`);
      }
      expect(response.result.ignoredContextKeys).toEqual([]);
      return response.overallResult;
    }

    const approve = (stage: SynthesisedStage) =>
      route(stage, "POST", "/decommission-requests/dcr_01JQC0ZV3QG2D1S7H5XW9K4M8N/approve");
    const reject = (stage: SynthesisedStage) =>
      route(stage, "POST", "/decommission-requests/dcr_01JQC0ZV3QG2D1S7H5XW9K4M8N/reject");
    const create = (stage: SynthesisedStage) => route(stage, "POST", "/decommission-requests");

    it("lets the created approver role approve and reject with the policy the stack gives it", async () => {
      const roleArn = String(concreteValue(dev, getAtt(approverRole(dev))));
      const [ownPolicy] = concretePoliciesOfRole(dev, approverRole(dev));
      if (ownPolicy === undefined) throw new Error("the approver role has no policy");

      expect(await invoke(dev, roleArn, approve(dev), ownPolicy)).toBe("Allowed");
      expect(await invoke(dev, roleArn, reject(dev), ownPolicy)).toBe("Allowed");
      expect(
        await invoke(
          dev,
          roleArn,
          route(dev, "GET", "/evses/evse01JQBEYCCN0Z44RW00E6GZCE86"),
          ownPolicy,
        ),
      ).toBe("Allowed");
      // Its own policy does not reach the routes of requesters.
      expect(await invoke(dev, roleArn, create(dev), ownPolicy)).toBe("ImplicitlyDenied");
    });

    it("refuses a role of the same name under another path, or in another admitted account", async () => {
      expect(
        await invoke(
          all,
          `arn:aws:iam::${DEPLOYED.account}:role/elsewhere/evse-ops-prod-approver`,
          approve(all),
        ),
      ).toBe("ExplicitlyDenied");
      expect(
        await invoke(
          all,
          `arn:aws:iam::${OTHER_ACCOUNT}:role/evse-ops-prod-approver`,
          approve(all),
        ),
      ).toBe("ExplicitlyDenied");
      // The same caller is admitted elsewhere: only the decisions are refused.
      expect(
        await invoke(all, `arn:aws:iam::${OTHER_ACCOUNT}:role/evse-ops-prod-approver`, create(all)),
      ).toBe("Allowed");
    });

    it("lets a non-approver create requests but never approve or reject, whatever its own policy", async () => {
      const requester = `arn:aws:iam::${DEPLOYED.account}:role/requester`;
      expect(await invoke(dev, requester, create(dev))).toBe("Allowed");
      expect(await invoke(dev, requester, approve(dev))).toBe("ExplicitlyDenied");
      expect(await invoke(dev, requester, reject(dev))).toBe("ExplicitlyDenied");
      // A trailing slash does not slip past the pattern.
      expect(await invoke(dev, requester, `${approve(dev)}/`)).toBe("ExplicitlyDenied");
    });

    it("admits a permission set's roles, with or without a region in their path, and no look-alike", async () => {
      const sso = `arn:aws:iam::${DEPLOYED.account}:role/aws-reserved/sso.amazonaws.com`;
      for (const path of [`${sso}/`, `${sso}/${DEPLOYED.region}/`]) {
        expect(
          await invoke(all, `${path}AWSReservedSSO_${PERMISSION_SET}_${SSO_SUFFIX}`, approve(all)),
        ).toBe("Allowed");
        // A permission set named `<name>_x`, a suffix of another length, another permission set.
        for (const name of [
          `AWSReservedSSO_${PERMISSION_SET}_x_${SSO_SUFFIX}`,
          `XAWSReservedSSO_${PERMISSION_SET}_${SSO_SUFFIX}`,
          `AWSReservedSSO_${PERMISSION_SET}_${SSO_SUFFIX.slice(1)}`,
          `AWSReservedSSO_Admin_${SSO_SUFFIX}`,
        ]) {
          expect(await invoke(all, `${path}${name}`, approve(all)), name).toBe("ExplicitlyDenied");
        }
      }
      // Outside Identity Center's reserved path, the same name is anyone's role.
      expect(
        await invoke(
          all,
          `arn:aws:iam::${DEPLOYED.account}:role/AWSReservedSSO_${PERMISSION_SET}_${SSO_SUFFIX}`,
          approve(all),
        ),
      ).toBe("ExplicitlyDenied");
    });

    it("admits a listed role by its exact ARN, path included", async () => {
      expect(await invoke(all, BREAK_GLASS, approve(all))).toBe("Allowed");
      expect(
        await invoke(all, `arn:aws:iam::${OTHER_ACCOUNT}:role/break-glass-approver`, approve(all)),
      ).toBe("ExplicitlyDenied");
    });
  });

  describe("the approver role's trust policy, simulated", () => {
    async function assumeAs(principal: string, context: Record<string, string>): Promise<Decision> {
      const role = properties(resourceOf(dev.statelessTemplate, approverRole(dev)));
      const response = await runSimulation(
        {
          request: {
            principal,
            action: "sts:AssumeRole",
            resource: {
              resource: String(concreteValue(dev, getAtt(approverRole(dev)))),
              accountId: DEPLOYED.account,
            },
            contextVariables: context,
          },
          identityPolicies: [
            {
              name: "may-assume",
              policy: {
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }],
              },
            },
          ],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: concreteValue(dev, role.AssumeRolePolicyDocument),
        },
        {},
      );
      if (response.resultType !== "single") {
        throw new Error(`the simulation did not run: ${JSON.stringify(response)}`);
      }
      return response.overallResult;
    }

    const alice = `arn:aws:iam::${DEPLOYED.account}:user/alice`;

    it("lets an IAM user assume it under their own user name only", async () => {
      const asUser = { "aws:PrincipalType": "User", "aws:username": "alice" };
      expect(await assumeAs(alice, { ...asUser, "sts:RoleSessionName": "alice" })).toBe("Allowed");
      expect(await assumeAs(alice, { ...asUser, "sts:RoleSessionName": "bob" })).not.toBe(
        "Allowed",
      );
    });

    it("refuses a role session, whatever session name it asks for", async () => {
      const session = `arn:aws:sts::${DEPLOYED.account}:assumed-role/some-role/alice`;
      expect(
        await assumeAs(session, {
          "aws:PrincipalType": "AssumedRole",
          "sts:RoleSessionName": "alice",
        }),
      ).not.toBe("Allowed");
    });
  });
});
