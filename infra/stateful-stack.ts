import { CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import { type Archive, EventBus, type IEventBus } from "aws-cdk-lib/aws-events";
import type { IKey } from "aws-cdk-lib/aws-kms";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { Construct } from "constructs";
import type { StageConfig } from "./config.js";
import { AlarmTopic } from "./constructs/alarm-topic.js";
import { ApprovalKey } from "./constructs/approval-key.js";
import { EvEnergySecrets } from "./constructs/evenergy-secrets.js";
import { StateTable } from "./constructs/state-table.js";
import { WebhookSigningSecret } from "./constructs/webhook-signing-secret.js";

/** What the stateless stack receives from the stateful one. */
export interface StatefulResources {
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:read credential: the poller's. */
  readonly readSecret: ISecret;
  /** The evse:write credential: decommissioning's (the read secret when shared). */
  readonly writeSecret: ISecret;
  /** Where every alarm notifies. */
  readonly alarmTopic: ITopic;
  /** The HMAC key decommission approvals are signed with (API) and verified with (executor). */
  readonly approvalKey: IKey;
  /** ev.energy's webhook signing secret: only the webhook receiver reads it. */
  readonly webhookSecret: ISecret;
}

export interface StatefulStackProps extends StackProps {
  readonly config: StageConfig;
}

/**
 * What outlives a deployment: the state table, the event bus and its archive, the ev.energy
 * secrets, the alarm topic and the approval key. Kept apart from the functions so that code
 * changes never put data at risk (nor make a recorded approval unverifiable).
 *
 * The alarm topic lives here rather than beside the alarms: its subscriptions (an e-mail that
 * had to be confirmed, a pager or chat integration added outside this app) and its ARN, which
 * other systems may subscribe to, must survive the stateless stack being destroyed and
 * redeployed.
 */
export class StatefulStack extends Stack implements StatefulResources {
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** Every event the app publishes, kept `events.archiveRetentionDays` for replay. */
  readonly archive: Archive;
  readonly readSecret: ISecret;
  readonly writeSecret: ISecret;
  readonly alarmTopic: ITopic;
  readonly approvalKey: IKey;
  readonly webhookSecret: ISecret;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.table = new StateTable(this, "State", { removalPolicy: config.removalPolicy }).table;

    this.bus = new EventBus(this, "Bus", {
      eventBusName: `evse-ops-${config.stage}`,
      description: `evse-ops ${config.stage}: EVSE change and decommission events`,
    });
    // Subscribers' rules live on the bus: a stage that retains its data keeps the bus too.
    this.bus.applyRemovalPolicy(config.removalPolicy);
    // A consumer that was down replays what it missed (`aws events start-replay`). Only the
    // app's own events are archived, so a replay can never re-inject a stranger's.
    this.archive = this.bus.archive("Archive", {
      archiveName: `evse-ops-${config.stage}-events`,
      description: `evse-ops ${config.stage}: every event the app published, for replay`,
      eventPattern: { source: [config.events.source] },
      retention: Duration.days(config.events.archiveRetentionDays),
    });
    this.archive.applyRemovalPolicy(config.removalPolicy);

    const secrets = new EvEnergySecrets(this, "EvEnergySecrets", {
      stage: config.stage,
      secrets: config.secrets,
      removalPolicy: config.removalPolicy,
    });
    this.readSecret = secrets.read;
    this.writeSecret = secrets.write;

    this.alarmTopic = new AlarmTopic(this, "Alarms", {
      stage: config.stage,
      spec: config.monitoring.alarmTopic,
      email: config.monitoring.alarmEmail,
      removalPolicy: config.removalPolicy,
    }).topic;

    this.approvalKey = new ApprovalKey(this, "ApprovalKey", {
      stage: config.stage,
      removalPolicy: config.removalPolicy,
    }).key;

    this.webhookSecret = new WebhookSigningSecret(this, "WebhookSigningSecret", {
      stage: config.stage,
      removalPolicy: config.removalPolicy,
    }).secret;

    new CfnOutput(this, "WebhookSigningSecretArn", {
      description:
        'Put ev.energy\'s webhook signing secret here as {"current":"whsec_..."} (README: Register the webhook endpoint)',
      value: this.webhookSecret.secretArn,
    });
    new CfnOutput(this, "ReadSecretArn", {
      description: "Put the evse:read ev.energy credentials here",
      value: this.readSecret.secretArn,
    });
    new CfnOutput(this, "WriteSecretArn", {
      description: "Put the evse:write ev.energy credentials here",
      value: this.writeSecret.secretArn,
    });
    new CfnOutput(this, "TableName", {
      description:
        "The state table (its switches: the items CONTROL / POLL_PAUSE and CONTROL / DECOMMISSION_PAUSE)",
      value: this.table.tableName,
    });
    new CfnOutput(this, "AlarmTopicArn", {
      description: "Every evse-ops alarm notifies this SNS topic; subscribe to it",
      value: this.alarmTopic.topicArn,
    });
    new CfnOutput(this, "ArchiveName", {
      description: "Replay missed events from this archive (aws events start-replay)",
      value: this.archive.archiveName,
    });
  }
}
