import { Aws, Duration, Fn, RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  JsonSchemaType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Model,
  RequestValidator,
  ResponseType,
  RestApi,
} from "aws-cdk-lib/aws-apigateway";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import { type CfnRule, type IEventBus, Rule } from "aws-cdk-lib/aws-events";
import { SqsQueue } from "aws-cdk-lib/aws-events-targets";
import {
  AccountPrincipal,
  AnyPrincipal,
  Effect,
  PolicyDocument,
  PolicyStatement,
} from "aws-cdk-lib/aws-iam";
import type { IKey } from "aws-cdk-lib/aws-kms";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Schedule } from "aws-cdk-lib/aws-scheduler";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { ITEM_ACCESS } from "../../functions/adapters/dynamodb/table-design.js";
import { ROUTES } from "../../functions/api/routes.js";
import {
  type DecommissionSettings,
  type EvEnergySettings,
  EXECUTION_VISIBILITY_TIMEOUT_SECONDS,
  EXECUTOR_TIMEOUT_SECONDS,
} from "../config.js";
import { approvalKeyRoles } from "./approval-key.js";
import {
  DECOMMISSION_DETAIL_TYPES,
  EXECUTION_REQUESTED_DETAIL_TYPE,
  grantPublish,
} from "./bus-publishing.js";
import { grantDeviceCompletion, grantItemAccess } from "./item-access.js";
import { LambdaFunction } from "./lambda-function.js";
import type { DecommissionMonitoringTargets } from "./monitoring.js";
import { failureOnlyQueue, scheduleInvocations } from "./scheduled-invocation.js";

export interface DecommissionApiProps {
  readonly stage: string;
  readonly settings: DecommissionSettings;
  readonly evEnergy: EvEnergySettings;
  /** The `source` of the decommission events and execution messages. */
  readonly eventSource: string;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:write credential: only the executor is given it. */
  readonly writeSecret: ISecret;
  /** The HMAC key approvals are signed with: the API may only sign, the executor only verify. */
  readonly approvalKey: IKey;
  /**
   * The approver roles (ApproverAccess.roleArnPatterns): the API function decides on them and
   * the resource policy refuses everyone else on the approve and reject routes.
   */
  readonly approverRoleArns: readonly string[];
}

/** API Gateway's integration timeout is 29 s; the API answers from DynamoDB in well under 10. */
const API_TIMEOUT = Duration.seconds(10);
const RECONCILER_TIMEOUT = Duration.seconds(60);
/** Longer than one executor invocation can take, so a live executor never loses its claim. */
const EXECUTION_LEASE_SECONDS = 300;

/**
 * API Gateway's own errors as RFC 9457 problems. A template cannot read the status code, so
 * each response type is set with its status; DEFAULT_4XX/DEFAULT_5XX catch any type not listed.
 * [type, status, slug, title]
 */
export const GATEWAY_PROBLEMS: ReadonlyArray<readonly [ResponseType, number, string, string]> = [
  [
    ResponseType.MISSING_AUTHENTICATION_TOKEN,
    403,
    "unauthenticated",
    "Not signed with AWS SigV4, or no such route",
  ],
  [ResponseType.INVALID_SIGNATURE, 403, "unauthenticated", "Invalid request signature"],
  [ResponseType.EXPIRED_TOKEN, 403, "unauthenticated", "Expired credentials"],
  [ResponseType.ACCESS_DENIED, 403, "unauthenticated", "Access denied"],
  [ResponseType.WAF_FILTERED, 403, "unauthenticated", "Blocked by the web application firewall"],
  [ResponseType.UNAUTHORIZED, 401, "unauthenticated", "Unauthenticated"],
  [ResponseType.RESOURCE_NOT_FOUND, 404, "not-found", "Not found"],
  [ResponseType.BAD_REQUEST_BODY, 400, "invalid-request", "Invalid request body"],
  [ResponseType.BAD_REQUEST_PARAMETERS, 400, "invalid-request", "Invalid request parameters"],
  [ResponseType.REQUEST_TOO_LARGE, 413, "payload-too-large", "Payload too large"],
  [ResponseType.UNSUPPORTED_MEDIA_TYPE, 415, "unsupported-media-type", "Unsupported media type"],
  [ResponseType.THROTTLED, 429, "throttled", "Too many requests"],
  [ResponseType.QUOTA_EXCEEDED, 429, "throttled", "Quota exceeded"],
  [ResponseType.INTEGRATION_FAILURE, 504, "internal-error", "The API function failed"],
  [ResponseType.INTEGRATION_TIMEOUT, 504, "internal-error", "The API function timed out"],
  [ResponseType.API_CONFIGURATION_ERROR, 500, "internal-error", "Internal error"],
  [ResponseType.AUTHORIZER_FAILURE, 500, "internal-error", "Internal error"],
  [ResponseType.AUTHORIZER_CONFIGURATION_ERROR, 500, "internal-error", "Internal error"],
  [ResponseType.DEFAULT_4XX, 400, "invalid-request", "Bad request"],
  [ResponseType.DEFAULT_5XX, 500, "internal-error", "Internal error"],
];

/** The routes that decide a request: only approvers may reach them. */
const DECISION_ROUTES = ROUTES.filter(
  (route) => route.name === "approveRequest" || route.name === "rejectRequest",
);

/** Routes whose handler refuses a missing body: the gateway checks that it is a JSON object. */
const BODY_REQUIRED = new Set(["createRequest", "rejectRequest"]);

/**
 * The decommission capability:
 * - an IAM-authorised REST API (every method AWS_IAM, a resource policy admitting only the
 *   configured accounts and organisation, throttled, JSON access logs, RFC 9457 gateway errors)
 *   in front of the API function;
 * - the executor, fed one message at a time by an SQS queue that a bus rule fills with
 *   `EVSE Decommission Execution Requested` events, with a dead-letter queue whose messages
 *   a dead-letter function marks FAILED;
 * - the reconciler on an EventBridge Scheduler schedule.
 *
 * Grants follow need: only the executor reads the write-scoped secret, and only in a stage
 * whose execution is on (`decommission.executor.enabled`); the API and the
 * reconciler read no secret and cannot touch SQS (they enqueue through the bus); each function
 * may put on the bus only the detail-types it publishes; only the API may sign approvals with
 * the approval key and only the executor may verify them.
 */
export class DecommissionApi extends Construct {
  readonly api: RestApi;
  readonly accessLogs: LogGroup;
  readonly apiFunction: LambdaFunction;
  readonly executorFunction: LambdaFunction;
  readonly reconcilerFunction: LambdaFunction;
  /** Marks the requests of dead-lettered execution messages FAILED. */
  readonly deadLetterFunction: LambdaFunction;
  /** Approved requests wait here for the executor. */
  readonly executionQueue: Queue;
  /** Execution messages received `maxReceiveCount` times. */
  readonly executionDeadLetterQueue: Queue;
  /** The bus rule that feeds the execution queue. */
  readonly executionRule: Rule;
  /** Execution messages the rule could not deliver to the queue. */
  readonly executionRuleDeadLetterQueue: Queue;
  readonly reconcilerSchedule: Schedule;
  readonly reconcilerFailureQueue: Queue;
  readonly reconcilerScheduleDeadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: DecommissionApiProps) {
    super(scope, id);
    const { settings, stage } = props;
    const function_ = (fnId: string, options: FunctionOptions) =>
      new LambdaFunction(this, fnId, {
        ...options,
        description: `evse-ops ${stage}: ${options.description}`,
        logRetention: props.logRetention,
        removalPolicy: props.removalPolicy,
        environment: {
          TABLE_NAME: props.table.tableName,
          EVENT_BUS_NAME: props.bus.eventBusName,
          EVENT_SOURCE: props.eventSource,
          PAUSE_CACHE_SECONDS: String(settings.pauseCacheSeconds),
          DECOMMISSION_START_PAUSED: String(settings.startPaused),
          ...options.environment,
        },
      });

    // ---------------------------------------------------------------- functions

    const keyRoles = approvalKeyRoles(stage);
    this.apiFunction = function_("ApiFunction", {
      entry: "functions/handlers/api.ts",
      roleName: keyRoles.signer,
      serviceName: "evse-ops-decommission-api",
      description: "the decommission API (requests, approvals, EVSE directory)",
      timeout: API_TIMEOUT,
      environment: {
        APPROVER_ROLE_ARNS: props.approverRoleArns.join(","),
        APPROVAL_KEY_ID: props.approvalKey.keyArn,
        PENDING_EXPIRY_DAYS: String(settings.pendingExpiryDays),
        IDEMPOTENCY_RETENTION_HOURS: String(settings.idempotencyRetentionHours),
        EXECUTION_ENABLED: String(settings.executor.enabled),
      },
    });

    // With execution off (decommission.executor.enabled false), the executor still settles
    // approved requests (it fails them, saying why) but gets no write credential: neither the
    // secret's id nor the right to read it, so no code path can DELETE at ev.energy.
    const executes = settings.executor.enabled;

    this.executorFunction = function_("ExecutorFunction", {
      entry: "functions/handlers/executor.ts",
      roleName: keyRoles.verifier,
      serviceName: "evse-ops-decommission-executor",
      description: executes
        ? "run approved decommissions against ev.energy (the only write credential)"
        : "fail approved decommissions without a DELETE: execution is off in this stage",
      timeout: Duration.seconds(EXECUTOR_TIMEOUT_SECONDS),
      memorySize: 256,
      environment: {
        EXECUTION_ENABLED: String(executes),
        EVENERGY_API_URL: props.evEnergy.apiBaseUrl,
        EVENERGY_TOKEN_URL: props.evEnergy.tokenUrl,
        ...(executes ? { EVENERGY_WRITE_SECRET_ID: props.writeSecret.secretArn } : {}),
        EVENERGY_WRITE_SCOPE: props.evEnergy.writeScope,
        APPROVAL_KEY_ID: props.approvalKey.keyArn,
        EVENERGY_REQUEST_TIMEOUT_SECONDS: String(settings.executor.requestTimeoutSeconds),
        EXECUTION_MAX_ATTEMPTS: String(settings.executor.maxAttempts),
        EXECUTION_BACKOFF_SECONDS: String(settings.executor.backoffSeconds),
        EXECUTION_MAX_BACKOFF_SECONDS: String(settings.executor.maxBackoffSeconds),
        EXECUTION_LEASE_SECONDS: String(EXECUTION_LEASE_SECONDS),
      },
    });

    const reconcilerEnvironment = {
      RECONCILE_STALE_MINUTES: String(settings.reconciler.staleMinutes),
      REPUBLISH_WINDOW_HOURS: String(settings.reconciler.republishWindowHours),
    };
    this.reconcilerFunction = function_("ReconcilerFunction", {
      entry: "functions/handlers/reconciler.ts",
      serviceName: "evse-ops-decommission-reconciler",
      description: "expire, re-send and republish decommission requests",
      timeout: RECONCILER_TIMEOUT,
      environment: reconcilerEnvironment,
    });
    this.deadLetterFunction = function_("DeadLetterFunction", {
      entry: "functions/handlers/reconciler.ts",
      handler: "deadLetterHandler",
      serviceName: "evse-ops-decommission-dead-letters",
      description: "fail the decommissions whose execution messages were dead-lettered",
      timeout: RECONCILER_TIMEOUT,
      environment: reconcilerEnvironment,
    });

    // ---------------------------------------------------------------- grants

    // Each function only its own items (table-design.ts, ITEM_ACCESS), with the actions its
    // adapters call: the request store (Get/Put/Update/Query, BatchGet to list by EVSE), the
    // guards (Put to claim, Get, Delete to release), idempotency keys (Put/Get/Update/Delete).
    grantItemAccess(props.table, this.apiFunction, ITEM_ACCESS.api, {
      queryIndex: true,
      queryOfflineIndex: true,
    });
    // The executor reaches devices only to mark the one it deleted (grantDeviceCompletion).
    grantItemAccess(props.table, this.executorFunction, ITEM_ACCESS.executor);
    grantDeviceCompletion(props.table, this.executorFunction);
    // Only the reconciler lists requests by status on gsi1.
    grantItemAccess(props.table, this.reconcilerFunction, ITEM_ACCESS.reconciler, {
      queryIndex: true,
    });
    grantItemAccess(props.table, this.deadLetterFunction, ITEM_ACCESS.reconciler);
    if (executes) props.writeSecret.grantRead(this.executorFunction);
    // Only the API records approvals, so only it may sign; only the executor acts on them.
    props.approvalKey.grantGenerateMac(this.apiFunction);
    props.approvalKey.grantVerifyMac(this.executorFunction);

    // Only the API and the reconciler enqueue executions (through the bus); all four announce.
    const enqueuers = [this.apiFunction, this.reconcilerFunction];
    for (const fn of enqueuers) {
      grantPublish(props.bus, fn, props.eventSource, [
        ...DECOMMISSION_DETAIL_TYPES,
        EXECUTION_REQUESTED_DETAIL_TYPE,
      ]);
    }
    for (const fn of [this.executorFunction, this.deadLetterFunction]) {
      grantPublish(props.bus, fn, props.eventSource, DECOMMISSION_DETAIL_TYPES);
    }

    // ---------------------------------------------------------------- execution queue

    this.executionDeadLetterQueue = new Queue(this, "ExecutionDeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.seconds(6 * RECONCILER_TIMEOUT.toSeconds()),
    });
    this.executionQueue = new Queue(this, "ExecutionQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(EXECUTION_VISIBILITY_TIMEOUT_SECONDS),
      deadLetterQueue: {
        queue: this.executionDeadLetterQueue,
        maxReceiveCount: settings.executor.maxReceiveCount,
      },
    });
    this.executorFunction.function.addEventSource(
      new SqsEventSource(this.executionQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: settings.executor.maxConcurrency,
      }),
    );
    // The dead-letter function answers per record and, while an executor may still hold a
    // request's lease, moves that message's next delivery to when the lease expires.
    this.deadLetterFunction.function.addEventSource(
      new SqsEventSource(this.executionDeadLetterQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
      }),
    );
    // The event source's consume grant covers this today; the handler calls it itself, so it
    // is granted by name rather than left to what the event source happens to include.
    this.executionDeadLetterQueue.grant(this.deadLetterFunction, "sqs:ChangeMessageVisibility");

    this.executionRuleDeadLetterQueue = failureOnlyQueue(this, "ExecutionRuleDeadLetterQueue");
    this.executionRule = new Rule(this, "ExecutionRule", {
      eventBus: props.bus,
      description: `evse-ops ${stage}: deliver execution requests to the executor's queue`,
      eventPattern: { source: [props.eventSource], detailType: [EXECUTION_REQUESTED_DETAIL_TYPE] },
    });
    // A replay from the archive is for subscribers; execution follows the request's state (the
    // reconciler re-sends what is still due), never old messages. CDK's EventPattern has no
    // field for EventBridge's `replay-name`.
    (this.executionRule.node.defaultChild as CfnRule).addPropertyOverride(
      "EventPattern.replay-name",
      [{ exists: false }],
    );
    this.executionRule.addTarget(
      new SqsQueue(this.executionQueue, {
        deadLetterQueue: this.executionRuleDeadLetterQueue,
        retryAttempts: 10,
        maxEventAge: Duration.hours(1),
      }),
    );

    // ---------------------------------------------------------------- reconciler schedule

    const runs = scheduleInvocations(new Construct(this, "Reconciler"), this.reconcilerFunction, {
      purpose: "reconcile decommission requests",
      stage,
      interval: Duration.minutes(settings.reconciler.scheduleMinutes),
      retryAttempts: 0,
    });
    this.reconcilerSchedule = runs.schedule;
    this.reconcilerFailureQueue = runs.failureQueue;
    this.reconcilerScheduleDeadLetterQueue = runs.scheduleDeadLetterQueue;

    // ---------------------------------------------------------------- REST API

    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.api = new RestApi(this, "Api", {
      restApiName: `evse-ops-${stage}-decommission`,
      description: `evse-ops ${stage}: decommission requests and approvals (AWS_IAM)`,
      endpointTypes: [EndpointType.REGIONAL],
      policy: DecommissionApi.resourcePolicy(settings, props.approverRoleArns),
      ...(settings.api.accountLoggingRole === "create"
        ? {
            cloudWatchRole: true,
            // Other APIs of the account and region may rely on it: it outlives this stack.
            cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
          }
        : { cloudWatchRole: false }),
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      deployOptions: {
        stageName: stage,
        tracingEnabled: true,
        metricsEnabled: true,
        // Errors only, and never request or response bodies.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: settings.api.throttleRatePerSecond,
        throttlingBurstLimit: settings.api.throttleBurst,
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    executionLogsFirst(this, this.api, stage, props);

    for (const [type, status, slug, title] of GATEWAY_PROBLEMS) {
      this.api.addGatewayResponse(`Problem${type.responseType}`, {
        type,
        statusCode: String(status),
        responseHeaders: { "Content-Type": "'application/problem+json'" },
        templates: { "application/json": problemTemplate(type, status, slug, title) },
      });
    }

    const validator = new RequestValidator(this, "Validator", {
      restApi: this.api,
      requestValidatorName: "parameters-and-json-body",
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jsonObject = this.api.addModel("JsonObject", {
      contentType: "application/json",
      modelName: "JsonObject",
      description: "Any JSON object: the API function checks its fields",
      schema: { type: JsonSchemaType.OBJECT },
    });
    const integration = new LambdaIntegration(this.apiFunction.function, {
      proxy: true,
      // One invoke permission for the whole API instead of two per method.
      scopePermissionToMethod: false,
    });
    for (const route of ROUTES) {
      this.addRoute(route, integration, validator, jsonObject);
    }

    // ---------------------------------------------------------------- acknowledgements

    Validations.of(this.api).acknowledge(
      {
        id: "AwsSolutions-APIG3",
        reason:
          "WAF is left optional: every method requires AWS_IAM (SigV4) and the resource policy denies every principal outside the configured accounts and organisation before any integration runs; stage throttling bounds the request rate. Attach a WebACL to the stage if the account's policy requires one.",
      },
      {
        id: "AwsSolutions-COG4",
        reason:
          "Callers are internal systems and approvers with AWS identities: every method uses AWS_IAM authorization (SigV4), and approval is decided on the caller's IAM role, so a Cognito user pool authorizer has no place here.",
      },
    );
    if (settings.api.accountLoggingRole === "create") {
      Validations.of(this.api).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        reason:
          "The region-wide role API Gateway uses to write access and execution logs (AWS::ApiGateway::Account); AWS documents exactly this managed policy for it, and it is assumable by apigateway.amazonaws.com only.",
      });
    }
    Validations.of(this.apiFunction.function).acknowledge({
      id: "Serverless-LambdaDLQ",
      reason:
        "API Gateway invokes the API function synchronously: an error is answered to the caller (as a problem document) and nothing is queued, so there is no failed asynchronous event to dead-letter.",
    });
    Validations.of(this.executorFunction.function).acknowledge(
      {
        id: "Serverless-LambdaDLQ",
        reason:
          "The executor is fed by an SQS event source: a message that keeps failing moves to the queue's own dead-letter queue (redrive policy, maxReceiveCount); a function DLQ only serves asynchronous invocations, which this function never receives.",
      },
      {
        id: "Serverless-LambdaEventSourceMappingDestination",
        reason:
          "Lambda supports on-failure destinations for stream and Kafka sources, not for SQS: failed execution messages go to the execution queue's dead-letter queue, whose every message alarms and is marked FAILED by the dead-letter function.",
      },
    );
    Validations.of(this.deadLetterFunction.function).acknowledge(
      {
        id: "Serverless-LambdaDLQ",
        reason:
          "The dead-letter function is fed by an SQS event source (the execution dead-letter queue) and is never invoked asynchronously, so a function DLQ would never receive anything.",
      },
      {
        id: "Serverless-LambdaEventSourceMappingDestination",
        reason:
          "It consumes the last queue of the chain: a message it fails to handle returns to the dead-letter queue, where the visible-messages alarm shows it until it succeeds or an operator acts (SQS sources support no on-failure destination).",
      },
    );
    const lastQueue =
      "This is the execution queue's dead-letter queue: the end of the chain. Its consumer (the dead-letter function) retries a message until it succeeds, and every message left visible raises an alarm; a further dead-letter queue would only hide it.";
    Validations.of(this.executionDeadLetterQueue).acknowledge({
      id: "Serverless-SQSRedrivePolicy",
      reason: lastQueue,
    });
  }

  /** What the dashboard charts and the alarms watch, for the Monitoring construct. */
  monitoringTargets(): DecommissionMonitoringTargets {
    const executor = this.executorFunction;
    return {
      api: this.api,
      functions: [
        { slug: "decommission-api", title: "Decommission API", function: this.apiFunction },
        { slug: "decommission-executor", title: "Executor", function: executor },
        {
          slug: "decommission-reconciler",
          title: "Reconciler",
          function: this.reconcilerFunction,
        },
        {
          slug: "decommission-dead-letters",
          title: "Dead-letter handler",
          function: this.deadLetterFunction,
        },
      ],
      workQueues: [
        { slug: "decommission-execution", title: "Execution", queue: this.executionQueue },
      ],
      deadLetterQueues: [
        {
          slug: "decommission-execution-dlq",
          title: "Execution DLQ",
          queue: this.executionDeadLetterQueue,
        },
        {
          slug: "decommission-rule-dlq",
          title: "Execution rule DLQ",
          queue: this.executionRuleDeadLetterQueue,
        },
        {
          slug: "decommission-reconciler-failures",
          title: "Reconciler on-failure",
          queue: this.reconcilerFailureQueue,
        },
        {
          slug: "decommission-reconciler-schedule-dlq",
          title: "Reconciler schedule DLQ",
          queue: this.reconcilerScheduleDeadLetterQueue,
        },
      ],
      outcomes: [
        { source: executor, metricName: "DecommissionCompleted", label: "Completed" },
        { source: executor, metricName: "DecommissionFailed", label: "Failed" },
        {
          source: executor,
          metricName: "DecommissionExecutionDisabled",
          label: "Failed: execution off in this stage",
        },
        { source: executor, metricName: "DecommissionRetried", label: "Retried" },
        { source: executor, metricName: "DecommissionSkipped", label: "Skipped" },
        {
          source: executor,
          metricName: "DecommissionIntegrityViolation",
          label: "Refused: integrity violation",
        },
        {
          source: this.deadLetterFunction,
          metricName: "DecommissionDeadLettered",
          label: "Dead-lettered (failed)",
        },
        { source: this.reconcilerFunction, metricName: "DecommissionExpired", label: "Expired" },
        {
          source: this.reconcilerFunction,
          metricName: "DecommissionReEnqueued",
          label: "Re-sent to the executor",
        },
        {
          source: this.reconcilerFunction,
          metricName: "DecommissionEventsResent",
          label: "Events re-published",
        },
      ],
      failures: [
        {
          slug: "decommission-failed",
          description: "A decommission request ended FAILED: the EVSE was not deleted.",
          source: executor,
          metricName: "DecommissionFailed",
          label: "Failed",
        },
        {
          slug: "decommission-integrity-violation",
          description:
            "The executor refused to DELETE: a request's approval signature did not verify, or its history contradicts the approval (the item was written outside the API). Nothing was deleted; treat it as a security incident.",
          source: executor,
          metricName: "DecommissionIntegrityViolation",
          label: "Integrity violations",
        },
        {
          slug: "decommission-dead-lettered",
          description:
            "An execution message was dead-lettered and its request marked FAILED: the executor kept failing on it.",
          source: this.deadLetterFunction,
          metricName: "DecommissionDeadLettered",
          label: "Dead-lettered",
        },
      ],
      paused: {
        source: this.reconcilerFunction,
        metricName: "DecommissionPaused",
        label: "Paused (1 = yes)",
      },
    };
  }

  /**
   * Admits only the configured accounts (default: the deploying one) and organisation, and
   * denies every other principal outright, so that an over-broad identity policy elsewhere
   * cannot reach the API either.
   *
   * On the approve and reject routes it also denies every principal that is not one of the
   * approver roles (`aws:PrincipalArn`, the role's ARN with its path): a look-alike role (same
   * name under another path or in another admitted account) is refused by IAM before the
   * function runs, whatever the function's own check would say.
   */
  static resourcePolicy(
    settings: DecommissionSettings,
    approverRoleArns: readonly string[],
  ): PolicyDocument {
    const accounts = settings.allowedAccounts ?? [Aws.ACCOUNT_ID];
    const invoke = { actions: ["execute-api:Invoke"], resources: ["execute-api:/*"] };
    const statements = [
      new PolicyStatement({
        sid: "AllowConfiguredAccounts",
        effect: Effect.ALLOW,
        principals: accounts.map((account) => new AccountPrincipal(account)),
        ...invoke,
      }),
    ];
    const outsider: Record<string, string | string[]> = { "aws:PrincipalAccount": accounts };
    if (settings.organizationId !== undefined) {
      statements.push(
        new PolicyStatement({
          sid: "AllowConfiguredOrganization",
          effect: Effect.ALLOW,
          principals: [new AnyPrincipal()],
          conditions: { StringEquals: { "aws:PrincipalOrgID": settings.organizationId } },
          ...invoke,
        }),
      );
      // Keys in one condition block must all match: denied only if outside both.
      outsider["aws:PrincipalOrgID"] = settings.organizationId;
    }
    statements.push(
      new PolicyStatement({
        sid: "DenyEveryoneElse",
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        conditions: { StringNotEquals: outsider },
        ...invoke,
      }),
    );
    if (approverRoleArns.length === 0) {
      throw new Error("DecommissionApi: no approver role, so nobody could approve a request");
    }
    statements.push(
      new PolicyStatement({
        sid: "DenyDecisionsByNonApprovers",
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ["execute-api:Invoke"],
        // A trailing `*` too: a path with a trailing slash must not slip past the pattern.
        resources: DECISION_ROUTES.map(
          (route) => `execute-api:/*/${route.method}${route.path.replaceAll("{id}", "*")}*`,
        ),
        // A negated operator: true when the caller's role matches none of the patterns, and
        // when the key is absent (no role at all), so both are denied.
        conditions: { ArnNotLike: { "aws:PrincipalArn": [...approverRoleArns] } },
      }),
    );
    return new PolicyDocument({ statements });
  }

  private addRoute(
    route: (typeof ROUTES)[number],
    integration: LambdaIntegration,
    validator: RequestValidator,
    jsonObject: Model,
  ): void {
    // Creates the missing path parts, e.g. /decommission-requests/{id}/approve.
    const resource = this.api.root.resourceForPath(route.path);
    const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].flatMap(([, name]) =>
      name === undefined ? [] : [name],
    );
    resource.addMethod(route.method, integration, {
      authorizationType: AuthorizationType.IAM,
      operationName: route.name,
      requestValidator: validator,
      requestParameters: Object.fromEntries(
        pathParameters.map((name) => [`method.request.path.${name}`, true]),
      ),
      ...(BODY_REQUIRED.has(route.name)
        ? { requestModels: { "application/json": jsonObject } }
        : {}),
    });
  }
}

interface FunctionOptions {
  readonly entry: string;
  readonly handler?: string;
  readonly serviceName: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly environment: Record<string, string>;
  readonly roleName?: string;
}

/**
 * API Gateway would create a stage's execution log group itself, kept forever: this creates it
 * first, with the stage's retention, and makes the stage wait for it.
 */
export function executionLogsFirst(
  scope: Construct,
  api: RestApi,
  /** The stage's name as configured (the stage's own name is a token that would make a cycle). */
  stage: string,
  props: { logRetention: RetentionDays; removalPolicy: RemovalPolicy },
): void {
  const executionLogs = new LogGroup(scope, "ExecutionLogs", {
    logGroupName: Fn.join("", ["API-Gateway-Execution-Logs_", api.restApiId, `/${stage}`]),
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  api.deploymentStage.node.addDependency(executionLogs);
}

/** One JSON object per request: who called what, the outcome, and why it failed. */
export const ACCESS_LOG_FIELDS = {
  requestId: "$context.requestId",
  extendedRequestId: "$context.extendedRequestId",
  requestTime: "$context.requestTime",
  httpMethod: "$context.httpMethod",
  resourcePath: "$context.resourcePath",
  path: "$context.path",
  status: "$context.status",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationStatus: "$context.integrationStatus",
  userArn: "$context.identity.userArn",
  accountId: "$context.identity.accountId",
  sourceIp: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  errorType: "$context.error.responseType",
  errorMessage: "$context.error.message",
  integrationError: "$context.integration.error",
};

export function problemTemplate(
  type: ResponseType,
  status: number,
  slug: string,
  title: string,
): string {
  // `$context.error.messageString` is the message already quoted as a JSON string; a request
  // body that failed validation says why in `validationErrorString`.
  const detail =
    type === ResponseType.BAD_REQUEST_BODY
      ? "$context.error.validationErrorString"
      : "$context.error.messageString";
  return `{"type":"urn:evse-ops:problem:${slug}","title":${JSON.stringify(title)},"status":${status},"detail":${detail},"instance":"$context.path","correlationId":"$context.requestId"}`;
}
