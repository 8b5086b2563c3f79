import { type CfnElement, Stack, Token, Validations } from "aws-cdk-lib";
import type { RestApi } from "aws-cdk-lib/aws-apigateway";
import { AccountRootPrincipal, PolicyStatement, Role } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { ApproverSettings } from "../config.js";

export interface ApproverAccessProps {
  readonly stage: string;
  readonly settings: ApproverSettings;
}

/**
 * IAM's own policy variable for the calling IAM user's name. A plain string to CDK (its tokens
 * look like `${Token[…]}`), and no Fn::Sub ever touches it, so IAM receives it as written.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JavaScript placeholder.
const CALLING_USER_NAME = "${aws:username}";

/** The 16-character suffix Identity Center appends to a permission set's role name. */
const SSO_ROLE_SUFFIX = "?".repeat(16);

/**
 * Who may approve or reject decommission requests, as IAM roles whose session names name a
 * person (an approval is recorded under the caller's session name, and nobody may approve their
 * own request, so a session name its holder could choose would let one person approve their
 * own request under another name):
 * - the role this stack creates, `evse-ops-<stage>-approver` (`createRole`): only this account's
 *   IAM users may assume it, and only with their own user name as session name;
 * - the roles of IAM Identity Center permission sets (`identityCenterPermissionSets`), whose
 *   session name AWS sets to the user name;
 * - other roles by exact ARN (`roleArns`), accepted only with the configuration's explicit
 *   acknowledgement that their session names are not pinned.
 *
 * `roleArnPatterns` is the one list of these roles that both the API function
 * (APPROVER_ROLE_ARNS) and the API's resource policy (the approve and reject routes) use.
 */
export class ApproverAccess extends Construct {
  /** The approver role this stack creates, when `createRole`. */
  readonly role: Role | undefined;
  /**
   * IAM role ARNs with their path. Wildcards appear only in Identity Center's patterns: `*` as
   * the path segment of a region, 16 `?` for the generated suffix.
   */
  readonly roleArnPatterns: readonly string[];

  constructor(scope: Construct, id: string, props: ApproverAccessProps) {
    super(scope, id);
    const { settings } = props;
    const { partition, account } = Stack.of(this);

    this.role = settings.createRole
      ? new Role(this, "Role", {
          roleName: `evse-ops-${props.stage}-approver`,
          description: `Approves or rejects evse-ops ${props.stage} decommission requests; assumed by IAM users under their own user name`,
          assumedBy: new AccountRootPrincipal().withConditions({
            StringEquals: {
              // Users only: role sessions and federated users have no aws:username to pin to.
              "aws:PrincipalType": "User",
              "sts:RoleSessionName": CALLING_USER_NAME,
            },
          }),
        })
      : undefined;

    // Identity Center puts its roles under /aws-reserved/sso.amazonaws.com/, sometimes with the
    // instance's region as a further path segment: one pattern for each, the wildcard a whole
    // path segment, so the role name itself must start exactly `AWSReservedSSO_<name>_`.
    // Exactly 16 `?` for the suffix, so a permission set named `<name>_x` cannot match.
    const identityCenter = settings.identityCenterPermissionSets.flatMap((name) =>
      ["", "*/"].map(
        (region) =>
          `arn:${partition}:iam::${account}:role/aws-reserved/sso.amazonaws.com/${region}AWSReservedSSO_${name}_${SSO_ROLE_SUFFIX}`,
      ),
    );
    this.roleArnPatterns = [
      ...(this.role === undefined ? [] : [this.role.roleArn]),
      ...identityCenter,
      ...settings.roleArns,
    ];
  }

  /**
   * Lets the created approver role call exactly the routes an approver needs on `api`'s
   * deployed stage: read requests and EVSEs, approve, reject (never create or cancel). Nothing
   * when no role is created.
   */
  grantReview(api: RestApi): void {
    const role = this.role;
    if (role === undefined) return;
    const stage = api.deploymentStage;
    const routes = REVIEW_ROUTES.map(([method, path]) => ({
      arn: api.arnForExecuteApi(method, path, stage.stageName),
      nagId: `AwsSolutions-IAM5[Resource::${nagArn(api, stage, method, path)}]`,
    }));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["execute-api:Invoke"],
        resources: routes.map(({ arn }) => arn),
      }),
    );
    Validations.of(role).acknowledge(
      ...routes.map(({ nagId }) => ({
        id: nagId,
        reason:
          "Each wildcard stands for a request or EVSE id (or nothing) in one route of this API's own stage: GET /decommission-requests*, GET /evses*, POST /decommission-requests/*/approve and /reject. The approver role can read, approve and reject, never create or cancel, and reaches no other API.",
      })),
    );
  }
}

/** What an approver calls: [method, path], `*` standing for ids. */
const REVIEW_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ["GET", "/decommission-requests*"],
  ["GET", "/evses*"],
  ["POST", "/decommission-requests/*/approve"],
  ["POST", "/decommission-requests/*/reject"],
];

/**
 * A route's execute-api ARN as cdk-nag names it in a finding: intrinsic references become
 * `<LogicalId>` and pseudo parameters `<AWS::Name>`; a stage pinned to an account and region
 * has them as literals instead.
 */
function nagArn(api: RestApi, stage: RestApi["deploymentStage"], method: string, path: string) {
  const stack = Stack.of(api);
  const literalOr = (value: string, pseudo: string) =>
    Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value;
  const id = (element: CfnElement) => `<${stack.getLogicalId(element)}>`;
  return [
    `arn:${literalOr(stack.partition, "Partition")}:execute-api:${literalOr(stack.region, "Region")}`,
    `${literalOr(stack.account, "AccountId")}:${id(api.node.defaultChild as CfnElement)}/${id(stage.node.defaultChild as CfnElement)}/${method}${path}`,
  ].join(":");
}
