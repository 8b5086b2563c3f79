import type { RemovalPolicy } from "aws-cdk-lib";
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
 * stateless stack, one action per function (see DecommissionApi).
 *
 * No automatic rotation: KMS supports it for symmetric encryption keys only, not for HMAC keys.
 */
export class ApprovalKey extends Construct {
  readonly key: IKey;

  constructor(scope: Construct, id: string, props: ApprovalKeyProps) {
    super(scope, id);
    this.key = new Key(this, "Key", {
      description: `evse-ops ${props.stage}: signs decommission approvals (HMAC); the API makes MACs, the executor verifies them`,
      keySpec: KeySpec.HMAC_256,
      keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: props.removalPolicy,
    });
  }
}
