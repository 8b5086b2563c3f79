import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import { EventBus, type IEventBus } from "aws-cdk-lib/aws-events";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import type { StageConfig } from "./config.js";
import { EvEnergySecrets } from "./constructs/evenergy-secrets.js";
import { StateTable } from "./constructs/state-table.js";

/** What the stateless stack receives from the stateful one. */
export interface StatefulResources {
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:read credential: the poller's. */
  readonly readSecret: ISecret;
  /** The evse:write credential: decommissioning's (the read secret when shared). */
  readonly writeSecret: ISecret;
}

export interface StatefulStackProps extends StackProps {
  readonly config: StageConfig;
}

/**
 * What outlives a deployment: the state table, the event bus and the ev.energy secrets.
 * Kept apart from the functions so that code changes never put data at risk.
 */
export class StatefulStack extends Stack implements StatefulResources {
  readonly table: ITableV2;
  readonly bus: IEventBus;
  readonly readSecret: ISecret;
  readonly writeSecret: ISecret;

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

    const secrets = new EvEnergySecrets(this, "EvEnergySecrets", {
      stage: config.stage,
      secrets: config.secrets,
      removalPolicy: config.removalPolicy,
    });
    this.readSecret = secrets.read;
    this.writeSecret = secrets.write;

    new CfnOutput(this, "ReadSecretArn", {
      description: "Put the evse:read ev.energy credentials here",
      value: this.readSecret.secretArn,
    });
    new CfnOutput(this, "WriteSecretArn", {
      description: "Put the evse:write ev.energy credentials here",
      value: this.writeSecret.secretArn,
    });
  }
}
