import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { type IGrantable, type IPrincipal, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  Tracing,
} from "aws-cdk-lib/aws-lambda";
import {
  LogLevel as EsbuildLogLevel,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { DEFAULT_MEMORY_MB } from "../lambda-memory.js";

/** The repository root: handler entries and the lock file are resolved against it. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The CloudWatch namespace of the functions' own metrics (Powertools EMF). */
export const METRICS_NAMESPACE = "EvseOps";

/**
 * The Node.js the functions run on, and the esbuild target of their bundles. The tests, the
 * sandbox and the CLIs run on the same major locally (the `node` dev dependency): a test keeps
 * the three in step.
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
export const BUNDLE_TARGET = "node24";

export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

export interface LambdaFunctionProps {
  /** The handler file, relative to the repository root, e.g. `functions/handlers/poll.ts`. */
  readonly entry: string;
  /** The exported handler function. @default "handler" */
  readonly handler?: string;
  /** Powertools service name: tags every log line and metric of this function. */
  readonly serviceName: string;
  readonly description?: string;
  /** Required: every function states how long it may run. */
  readonly timeout: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** The function's own settings; merged over the shared Powertools and Node.js ones. */
  readonly environment?: Record<string, string>;
  /** @default - unreserved: draws on the account's shared concurrency */
  readonly reservedConcurrentExecutions?: number;
  /** A fixed role name, for a role another stack's policy must name before it exists. */
  readonly roleName?: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** @default "INFO" */
  readonly logLevel?: LogLevel;
}

/**
 * THE Lambda function of this project: every default lives here so that no stack repeats
 * one. Node.js 24 on arm64, ESM bundle built locally by esbuild with source maps, an explicit
 * log group with bounded retention (JSON logs), active X-Ray tracing, Powertools settings, and
 * a role that starts with nothing but the right to write to its own log group.
 */
export class LambdaFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  /** POWERTOOLS_SERVICE_NAME: the `service` dimension of this function's own metrics. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: LambdaFunctionProps) {
    super(scope, id);
    const logLevel = props.logLevel ?? "INFO";
    this.serviceName = props.serviceName;

    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    // An own role instead of AWSLambdaBasicExecutionRole: that managed policy lets the function
    // create and write any log group in the account; this one may only write to its own.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Runs ${props.serviceName}`,
      ...(props.roleName === undefined ? {} : { roleName: props.roleName }),
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, "Function", {
      entry: join(REPO_ROOT, props.entry),
      handler: props.handler ?? "handler",
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, "package-lock.json"),
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel[logLevel],
      tracing: Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: logLevel,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_TARGET,
        platform: "node",
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        logLevel: EsbuildLogLevel.WARNING,
        mainFields: ["module", "main"],
        // The AWS SDK is bundled at the version package-lock.json pins (and that the tests
        // ran against) rather than whatever version the runtime happens to ship.
        bundleAwsSDK: true,
        // CommonJS dependencies inside an ES module bundle still call require().
        banner:
          "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
    });

    Validations.of(this.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so the statement CDK adds for tracing must name Resource *. The infra tests check that it is the only statement with Resource *.",
    });
  }

  get grantPrincipal(): IPrincipal {
    return this.function.grantPrincipal;
  }
}
