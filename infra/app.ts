/**
 * The CDK app: `npx cdk synth -c stage=prod` (default stage `dev`). Builds the two stacks of
 * one stage from its validated configuration and checks them with cdk-nag's AwsSolutions and
 * Serverless packs; an unacknowledged error fails synth.
 */
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { App, type AppProps, RemovalPolicy, Tags, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { loadStageConfig, type StageConfig } from "./config.js";
import { StatefulStack } from "./stateful-stack.js";
import { StatelessStack } from "./stateless-stack.js";

export interface EvseOpsApp {
  readonly app: App;
  readonly config: StageConfig;
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

/**
 * Builds the app for the stage the context names.
 * @param context cdk.json-style context (`stage`, `stages`, feature flags); the CDK CLI passes
 *   cdk.json's context through the environment, so `main` passes none.
 */
export function buildApp(context?: Record<string, unknown>, props: AppProps = {}): EvseOpsApp {
  const app = new App({ ...props, context: { ...props.context, ...context } });
  const config = loadStageConfig(app);
  const env = config.env;
  const prefix = `evse-ops-${config.stage}`;

  const stateful = new StatefulStack(app, `${prefix}-stateful`, {
    config,
    env,
    description: `evse-ops ${config.stage}: state table, event bus and archive, ev.energy secrets, alarm topic, approval key`,
    // A stage whose data is retained must not lose it to an accidental stack deletion either.
    terminationProtection: config.removalPolicy === RemovalPolicy.RETAIN,
  });
  const stateless = new StatelessStack(app, `${prefix}-stateless`, {
    config,
    env,
    description: `evse-ops ${config.stage}: poller, decommission API, monitoring`,
    table: stateful.table,
    bus: stateful.bus,
    readSecret: stateful.readSecret,
    writeSecret: stateful.writeSecret,
    alarmTopic: stateful.alarmTopic,
    approvalKey: stateful.approvalKey,
  });

  Tags.of(app).add("project", "evse-ops");
  Tags.of(app).add("stage", config.stage);
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true }),
    new ServerlessChecks(app, { verbose: true }),
  );
  return { app, config, stateful, stateless };
}

function isMain(): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(realpathSync(script)).href === import.meta.url;
}

if (isMain()) {
  buildApp().app.synth();
}
