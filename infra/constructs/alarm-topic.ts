import { Aws, Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { type ITopic, Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import type { AlarmTopicSpec } from "../config.js";

export interface AlarmTopicProps {
  readonly stage: string;
  readonly spec: AlarmTopicSpec;
  /** Subscribed to the topic, created or imported. */
  readonly email?: string;
  /** Applies to the topic and key this construct creates; an imported topic is never touched. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The SNS topic every alarm notifies, created here or imported by ARN, with an optional e-mail
 * subscription.
 *
 * A created topic is encrypted with its own customer-managed KMS key (rotated yearly) rather
 * than SNS's AWS-managed key, because CloudWatch alarms can publish to an encrypted topic only
 * when the key policy lets cloudwatch.amazonaws.com use the key, and an AWS-managed key's policy
 * cannot be changed. Publishers must use TLS.
 *
 * An imported topic must already let this account's CloudWatch alarms publish (and, if it is
 * encrypted, use its key).
 */
export class AlarmTopic extends Construct {
  readonly topic: ITopic;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    this.topic =
      "import" in props.spec
        ? Topic.fromTopicArn(this, "Imported", props.spec.import)
        : this.createTopic(props);

    if (props.email !== undefined) {
      // The subscription is created inside the topic's scope, created or imported alike.
      this.topic.addSubscription(new EmailSubscription(props.email));
      Validations.of(this.topic).acknowledge({
        id: "Serverless-SNSRedrivePolicy",
        reason:
          "The e-mail subscription carries alarm notifications only. A dead-letter queue for undelivered e-mails would need an alarm of its own, which would notify through this same topic; the alarm's state stays on the dashboard and in the CloudWatch console whether or not the e-mail arrives.",
      });
    }
  }

  private createTopic(props: AlarmTopicProps): Topic {
    const key = new Key(this, "Key", {
      description: `evse-ops ${props.stage}: encrypts alarm notifications`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: "AllowCloudWatchAlarmsToPublish",
        principals: [new ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
    );
    const topic = new Topic(this, "Topic", {
      topicName: `evse-ops-${props.stage}-alarms`,
      displayName: `evse-ops ${props.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.applyRemovalPolicy(props.removalPolicy);
    return topic;
  }
}
