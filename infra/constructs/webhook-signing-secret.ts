import { type RemovalPolicy, Validations } from "aws-cdk-lib";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";

/**
 * The Svix signing secret of ev.energy's webhook endpoint: JSON
 * `{"current": "whsec_…", "previous": "whsec_…"}` (previous only during a rotation). It starts
 * as a placeholder that verifies nothing (`whsec_REPLACE_ME` is no base64 key), so an endpoint
 * registered before the secret is filled answers 401 to everything: it fails closed.
 */
export class WebhookSigningSecret extends Construct {
  readonly secret: Secret;

  constructor(
    scope: Construct,
    id: string,
    props: { stage: string; removalPolicy: RemovalPolicy },
  ) {
    super(scope, id);
    this.secret = new Secret(this, "Secret", {
      description: `evse-ops ${props.stage}: the signing secret of ev.energy's webhooks (Svix). Replace the placeholder with {"current":"whsec_..."}; during a rotation {"current":"<new>","previous":"<old>"}.`,
      // Generated only so that the value is never empty; `current` stays a placeholder.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ current: "whsec_REPLACE_ME" }),
        generateStringKey: "placeholder",
        excludePunctuation: true,
        passwordLength: 16,
      },
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The signing secret is issued by ev.energy's webhook portal (Svix) and can only be rotated there; operators put the new one in as `current` and keep the old one as `previous` until ev.energy signs with the new one only (README: Rotate the webhook signing secret).",
    });
  }
}
