import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct, IDependable } from "constructs";
import { GSI1, GSI2 } from "../functions/adapters/dynamodb/table-design.js";
import type { StageConfig } from "./config.js";
import { ApproverAccess } from "./constructs/approver-access.js";
import { DecommissionApi } from "./constructs/decommission-api.js";
import { Monitoring } from "./constructs/monitoring.js";
import { Poller } from "./constructs/poller.js";
import { WEBHOOK_RESOURCE_PATH, Webhooks } from "./constructs/webhooks.js";
import type { StatefulResources } from "./stateful-stack.js";

export interface StatelessStackProps extends StackProps, StatefulResources {
  readonly config: StageConfig;
}

/**
 * The functions, their triggers and their monitoring; safe to destroy and redeploy at any time
 * (log groups follow the stage's removal policy).
 */
export class StatelessStack extends Stack {
  readonly poller: Poller;
  readonly approvers: ApproverAccess;
  readonly decommission: DecommissionApi;
  readonly webhooks: Webhooks;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.poller = new Poller(this, "Poller", {
      stage: config.stage,
      poll: config.poll,
      evEnergy: config.evEnergy,
      fleetHealth: config.fleetHealth,
      eventSource: config.events.source,
      logRetention: config.logRetentionDays,
      removalPolicy: config.removalPolicy,
      table: props.table,
      bus: props.bus,
      readSecret: props.readSecret,
      webhookBudgetShare: config.webhooks.budgetShare,
    });

    this.approvers = new ApproverAccess(this, "Approvers", {
      stage: config.stage,
      settings: config.decommission.approvers,
    });
    this.decommission = new DecommissionApi(this, "Decommission", {
      stage: config.stage,
      settings: config.decommission,
      evEnergy: config.evEnergy,
      eventSource: config.events.source,
      logRetention: config.logRetentionDays,
      removalPolicy: config.removalPolicy,
      table: props.table,
      bus: props.bus,
      writeSecret: props.writeSecret,
      approvalKey: props.approvalKey,
      approverRoleArns: this.approvers.roleArnPatterns,
    });
    this.approvers.grantReview(this.decommission.api);
    if (this.approvers.role !== undefined) {
      new CfnOutput(this, "ApproverRoleArn", {
        description:
          "Approvers assume this role as IAM users, with their user name as session name (aws sts assume-role --role-session-name <user name>)",
        value: this.approvers.role.roleArn,
      });
    }
    new CfnOutput(this, "DecommissionApiUrl", {
      description: "The decommission API (AWS_IAM: sign requests with SigV4)",
      value: this.decommission.api.url,
    });
    new CfnOutput(this, "DecommissionApiId", {
      description:
        "The decommission API's id, for execute-api:Invoke resource ARNs (arn:aws:execute-api:<region>:<account>:<id>/<stage>/<METHOD>/<path>)",
      value: this.decommission.api.restApiId,
    });
    this.webhooks = new Webhooks(this, "Webhooks", {
      stage: config.stage,
      settings: config.webhooks,
      poll: config.poll,
      evEnergy: config.evEnergy,
      eventSource: config.events.source,
      historyRetentionDays: config.fleetHealth.historyRetentionDays,
      logRetention: config.logRetentionDays,
      removalPolicy: config.removalPolicy,
      table: props.table,
      bus: props.bus,
      readSecret: props.readSecret,
      signingSecret: props.webhookSecret,
      // API Gateway's account logging role, if the decommission API creates it, comes first.
      ...accountLoggingRoleOf(this.decommission),
    });
    new CfnOutput(this, "WebhookUrl", {
      description:
        "Register this URL with ev.energy for charging_sub_session.created and .ended (README: Register the webhook endpoint)",
      value: this.webhooks.api.urlForPath(WEBHOOK_RESOURCE_PATH),
    });
    new CfnOutput(this, "PollLogGroup", {
      description: "The poll function's log group (aws logs tail <name> --follow)",
      value: this.poller.pollFunction.logGroup.logGroupName,
    });
    new CfnOutput(this, "DecommissionApiAccessLogs", {
      description: "The decommission API's JSON access log group",
      value: this.decommission.accessLogs.logGroupName,
    });

    this.monitoring = new Monitoring(this, "Monitoring", {
      stage: config.stage,
      settings: config.monitoring,
      pollIntervalMinutes: config.poll.scheduleMinutes,
      alarmTopic: props.alarmTopic,
      table: props.table,
      tableIndexes: [GSI1.name, GSI2.name],
      poller: this.poller,
      decommission: this.decommission.monitoringTargets(),
      webhooks: {
        receiver: this.webhooks.receiverFunction,
        worker: this.webhooks.workerFunction,
        poll: this.poller.pollFunction,
        silenceAlarmMinutes: config.webhooks.silenceAlarmMinutes,
        functions: [
          {
            slug: "webhook-receiver",
            title: "Webhook receiver",
            function: this.webhooks.receiverFunction,
          },
          {
            slug: "webhook-worker",
            title: "Webhook worker",
            function: this.webhooks.workerFunction,
          },
        ],
        deadLetterQueues: [
          { slug: "webhook-dlq", title: "Webhook DLQ", queue: this.webhooks.deadLetterQueue },
        ],
      },
    });
  }
}

/** The decommission API's AWS::ApiGateway::Account, when it creates one. */
function accountLoggingRoleOf(decommission: DecommissionApi): { accountLoggingRole?: IDependable } {
  const account = decommission.api.node.tryFindChild("Account");
  return account ? { accountLoggingRole: account } : {};
}
