import type { RemovalPolicy } from "aws-cdk-lib";
import { Validations } from "aws-cdk-lib";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { SecretSpec, SecretsSettings } from "../config.js";

export interface EvEnergySecretsProps {
  readonly stage: string;
  readonly secrets: SecretsSettings;
  /** Applies to secrets this construct creates; imported ones are never touched. */
  readonly removalPolicy: RemovalPolicy;
}

/** A complete secret ARN ends in the 6-character suffix Secrets Manager appends to the name. */
const COMPLETE_SECRET_ARN = /^arn:.+:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * The ev.energy credentials: a read-scoped secret for the poller and a write-scoped one for
 * decommissioning, each created here or imported by name or ARN; with `shareOneSecret` the
 * write credential is the read secret itself.
 *
 * A created secret starts as a placeholder whose JSON shows the expected shape,
 * `{"client_id":"REPLACE_ME","client_secret":"<generated>"}`: put the real OAuth client (or
 * `{"access_token":"..."}`) in it after the first deploy. No credential is ever in the template.
 */
export class EvEnergySecrets extends Construct {
  readonly read: ISecret;
  readonly write: ISecret;

  constructor(scope: Construct, id: string, props: EvEnergySecretsProps) {
    super(scope, id);
    const { secrets } = props;
    this.read = this.secret("Read", secrets.read, "read (evse:read) scope", props);
    this.write = secrets.shareOneSecret
      ? this.read
      : this.secret("Write", secrets.write, "write (evse:write) scope", props);
  }

  private secret(
    id: string,
    spec: SecretSpec,
    purpose: string,
    props: EvEnergySecretsProps,
  ): ISecret {
    if ("import" in spec) {
      const ref = spec.import;
      if (!ref.startsWith("arn:")) return Secret.fromSecretNameV2(this, id, ref);
      return COMPLETE_SECRET_ARN.test(ref)
        ? Secret.fromSecretCompleteArn(this, id, ref)
        : Secret.fromSecretPartialArn(this, id, ref);
    }
    const secret = new Secret(this, id, {
      description: `evse-ops ${props.stage}: ev.energy credentials for the ${purpose}. Replace the placeholder with {"client_id":"...","client_secret":"..."} (or {"access_token":"..."}).`,
      // Generated only so the secret is never empty or guessable; the REPLACE_ME client id
      // marks it as a placeholder that cannot authenticate.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ client_id: "REPLACE_ME" }),
        generateStringKey: "client_secret",
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The secret holds OAuth client credentials issued by ev.energy; they can only be rotated in ev.energy's portal, so no Secrets Manager rotation function could rotate them. Operators replace the value when ev.energy reissues the client.",
    });
    return secret;
  }
}
