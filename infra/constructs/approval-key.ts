import { type RemovalPolicy, Stack } from "aws-cdk-lib";
import { AnyPrincipal, Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { type IKey, Key, KeySpec, KeyUsage } from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";

export interface ApprovalKeyProps {
  readonly stage: string;
  /** RETAIN keeps the key when the stack goes: approvals signed with it stay verifiable. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The KMS HMAC key decommission approvals are signed with: the API makes a MAC over each
 * approval it records (kms:GenerateMac), and the executor verifies it before any DELETE
 * (kms:VerifyMac), so an approval written into the table by anything but the API is refused.
 *
 * It lives in the stateful stack because a pending approval must stay verifiable across
 * redeploys of the functions. Its key material never leaves KMS; grants are made in the
 * stateless stack, one action per function (see DecommissionApi), and its key policy denies
 * each action to every other principal.
 *
 * No automatic rotation: KMS supports it for symmetric encryption keys only, not for HMAC keys.
 */
export class ApprovalKey extends Construct {
  readonly key: IKey;

  constructor(scope: Construct, id: string, props: ApprovalKeyProps) {
    super(scope, id);
    const key = new Key(this, "Key", {
      description: `evse-ops ${props.stage}: signs decommission approvals (HMAC); the API makes MACs, the executor verifies them`,
      keySpec: KeySpec.HMAC_256,
      keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: props.removalPolicy,
    });
    // The key policy itself keeps signing to the API's role and verifying to the executor's,
    // so an identity with kms:* on every key (an administrator's, a power user's) cannot make
    // an approval either. The roles are named, not referenced: they live in the stateless
    // stack, which depends on this one.
    const roles = approvalKeyRoles(props.stage);
    const stack = Stack.of(this);
    const roleArn = (name: string) =>
      stack.formatArn({ service: "iam", region: "", resource: "role", resourceName: name });
    for (const [sid, action, role] of [
      ["OnlyTheApiSignsApprovals", "kms:GenerateMac", roles.signer],
      ["OnlyTheExecutorVerifiesApprovals", "kms:VerifyMac", roles.verifier],
    ] as const) {
      key.addToResourcePolicy(
        new PolicyStatement({
          sid,
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: [action],
          resources: ["*"],
          conditions: { ArnNotEquals: { "aws:PrincipalArn": roleArn(role) } },
        }),
      );
    }
    this.key = key;
  }
}

/** The fixed names of the two roles the approval key's policy admits (see DecommissionApi). */
export function approvalKeyRoles(stage: string) {
  return {
    signer: `evse-ops-${stage}-decommission-api`,
    verifier: `evse-ops-${stage}-decommission-executor`,
  } as const;
}
