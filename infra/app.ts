/**
 * The CDK app: `npx cdk synth -c stage=prod` (default stage `dev`). Builds the two stacks of
 * one stage from its validated configuration (cdk.json's stage, with this checkout's
 * `cdk.context.local.json` and `-c stages.<stage>.<path>=<value>` merged over it) and checks
 * them with cdk-nag's AwsSolutions and Serverless packs; an unacknowledged error fails synth.
 */
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { App, type AppProps, RemovalPolicy, Tags, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks, ServerlessChecks } from "cdk-nag";
import { ConfigError, type LoadOptions, loadStageConfig, type StageConfig } from "./config.js";
import { LOCAL_SETTINGS_FILE, LocalSettingsError } from "./local-settings.js";
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
 * @param options.localSettingsFile the deployer's settings merged over cdk.json's stage (see
 *   local-settings.ts); `main` passes `cdk.context.local.json`, tests pass none (or their own).
 */
export function buildApp(
  context?: Record<string, unknown>,
  props: AppProps = {},
  options: LoadOptions = {},
): EvseOpsApp {
  const app = new App({ ...props, context: { ...props.context, ...context } });
  const config = loadStageConfig(app, options);
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
    webhookSecret: stateful.webhookSecret,
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
  try {
    // Relative to the working directory: the CDK CLI runs the app where cdk.json is.
    buildApp(undefined, {}, { localSettingsFile: LOCAL_SETTINGS_FILE }).app.synth();
  } catch (error) {
    // A setting to fix, not a bug: its message alone (it names the file and path), no trace.
    if (!(error instanceof ConfigError || error instanceof LocalSettingsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
