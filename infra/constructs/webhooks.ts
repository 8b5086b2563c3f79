import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
  RestApi,
} from "aws-cdk-lib/aws-apigateway";
import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct, type IDependable } from "constructs";
import { ITEM_ACCESS } from "../../functions/adapters/dynamodb/table-design.js";
import type { EvEnergySettings, PollSettings, WebhookSettings } from "../config.js";
import { CHANGE_DETAIL_TYPES, grantPublish } from "./bus-publishing.js";
import {
  ACCESS_LOG_FIELDS,
  executionLogsFirst,
  GATEWAY_PROBLEMS,
  problemTemplate,
} from "./decommission-api.js";
import { grantItemAccess } from "./item-access.js";
import { LambdaFunction } from "./lambda-function.js";

export interface WebhooksProps {
  readonly stage: string;
  readonly settings: WebhookSettings;
  readonly poll: PollSettings;
  readonly evEnergy: EvEnergySettings;
  readonly eventSource: string;
  readonly historyRetentionDays: number;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly table: ITableV2;
  readonly bus: IEventBus;
  /** The evse:read credential: the worker refreshes one EVSE with it. */
  readonly readSecret: ISecret;
  /** ev.energy's signing secret: only the receiver reads it. */
  readonly signingSecret: ISecret;
  /** API Gateway's account logging role, when this app creates it (the decommission API). */
  readonly accountLoggingRole?: IDependable;
}

/** The receiver answers from memory and one SQS send: far inside Svix's timeout. */
const RECEIVER_TIMEOUT = Duration.seconds(10);
const WORKER_TIMEOUT = Duration.seconds(30);
/** Longer than a worker invocation; shorter than the queue's visibility timeout (see claim.ts). */
const CLAIM_LEASE_SECONDS = 120;
const WORKER_VISIBILITY_TIMEOUT = Duration.seconds(6 * WORKER_TIMEOUT.toSeconds());
export const WEBHOOK_RESOURCE_PATH = "/webhooks/ev-energy";

/**
 * ev.energy's webhooks: a public REST API of its own (no IAM: ev.energy cannot sign with AWS
 * credentials; the Svix signature is the authentication, checked by the receiver before
 * anything else), stage and method throttling, a receiver with reserved concurrency that
 * verifies and queues, and a worker fed by that queue (with a dead-letter queue) that refreshes
 * the named EVSE through the poll's detection and writes. The decommission API is untouched.
 */
export class Webhooks extends Construct {
  readonly api: RestApi;
  readonly accessLogs: LogGroup;
  readonly receiverFunction: LambdaFunction;
  readonly workerFunction: LambdaFunction;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WebhooksProps) {
    super(scope, id);
    const { settings, stage } = props;

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, "Queue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Svix retries for more than a day; what waits longer here is left to the poll anyway.
      retentionPeriod: Duration.days(1),
      visibilityTimeout: WORKER_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });

    this.receiverFunction = new LambdaFunction(this, "ReceiverFunction", {
      entry: "functions/handlers/webhook-receiver.ts",
      serviceName: "evse-ops-webhook-receiver",
      description: `evse-ops ${stage}: verify ev.energy's signed webhooks and queue them`,
      timeout: RECEIVER_TIMEOUT,
      reservedConcurrentExecutions: settings.receiverConcurrency,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        WEBHOOK_SECRET_ID: props.signingSecret.secretArn,
        WEBHOOK_QUEUE_URL: this.queue.queueUrl,
        WEBHOOK_SECRET_CACHE_SECONDS: String(settings.secretCacheSeconds),
        WEBHOOK_MAX_BODY_BYTES: String(settings.maxBodyBytes),
      },
    });
    props.signingSecret.grantRead(this.receiverFunction);
    this.queue.grantSendMessages(this.receiverFunction);

    this.workerFunction = new LambdaFunction(this, "WorkerFunction", {
      entry: "functions/handlers/webhook-worker.ts",
      serviceName: "evse-ops-webhook-worker",
      description: `evse-ops ${stage}: refresh the EVSE a webhook names and publish its change`,
      timeout: WORKER_TIMEOUT,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        TABLE_NAME: props.table.tableName,
        EVENT_BUS_NAME: props.bus.eventBusName,
        EVENT_SOURCE: props.eventSource,
        EVENERGY_API_URL: props.evEnergy.apiBaseUrl,
        EVENERGY_TOKEN_URL: props.evEnergy.tokenUrl,
        EVENERGY_SCOPE: props.evEnergy.readScope,
        EVENERGY_SECRET_ID: props.readSecret.secretArn,
        STALENESS_MINUTES: String(props.poll.stalenessMinutes),
        CHARGE_RATE_THRESHOLD_WATTS: String(props.poll.chargeRateThresholdWatts),
        HEARTBEAT_MINUTES: String(props.poll.heartbeatMinutes),
        BUDGET_SHARE: String(props.poll.budgetShare),
        WEBHOOK_BUDGET_SHARE: String(settings.budgetShare),
        RATE_LIMIT_DEFAULT: String(props.poll.rateLimitDefault),
        HISTORY_RETENTION_DAYS: String(props.historyRetentionDays),
        WEBHOOK_RETRY_DELAY_SECONDS: String(settings.retryDelaySeconds),
        WEBHOOK_CLAIM_LEASE_SECONDS: String(CLAIM_LEASE_SECONDS),
      },
    });
    // The read credential, its own claims and ledger, and deliberately the poll's device write
    // and fleet-health records for the one device a webhook names (ITEM_ACCESS.webhookWorker);
    // the change events only on the bus; its queue (consume, and delay a message's retry).
    props.readSecret.grantRead(this.workerFunction);
    grantItemAccess(props.table, this.workerFunction, ITEM_ACCESS.webhookWorker);
    grantPublish(props.bus, this.workerFunction, props.eventSource, CHANGE_DETAIL_TYPES);
    this.workerFunction.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: settings.workerMaxConcurrency,
      }),
    );
    this.queue.grant(this.workerFunction, "sqs:ChangeMessageVisibility");

    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const method = `${WEBHOOK_RESOURCE_PATH}/POST`;
    this.api = new RestApi(this, "Api", {
      restApiName: `evse-ops-${stage}-webhooks`,
      description: `evse-ops ${stage}: ev.energy's signed webhooks (Svix signatures, no IAM)`,
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: false,
      defaultMethodOptions: { authorizationType: AuthorizationType.NONE },
      deployOptions: {
        stageName: stage,
        tracingEnabled: true,
        metricsEnabled: true,
        // Errors only, and never a body: the receiver never logs one either.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: settings.throttleRatePerSecond,
        throttlingBurstLimit: settings.throttleBurst,
        methodOptions: {
          [method]: {
            throttlingRateLimit: settings.throttleRatePerSecond,
            throttlingBurstLimit: settings.throttleBurst,
          },
        },
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    if (props.accountLoggingRole)
      this.api.deploymentStage.node.addDependency(props.accountLoggingRole);
    executionLogsFirst(this, this.api, stage, props);
    for (const [type, status, slug, title] of GATEWAY_PROBLEMS) {
      // Nothing here is SigV4-signed: a missing token only ever means no such route.
      const [s, sl, t] =
        type === ResponseType.MISSING_AUTHENTICATION_TOKEN
          ? [404, "not-found", "No such route"]
          : [status, slug, title];
      this.api.addGatewayResponse(`Problem${type.responseType}`, {
        type,
        statusCode: String(s),
        responseHeaders: { "Content-Type": "'application/problem+json'" },
        templates: { "application/json": problemTemplate(type, s, sl, t) },
      });
    }
    this.api.root
      .resourceForPath(WEBHOOK_RESOURCE_PATH)
      .addMethod("POST", new LambdaIntegration(this.receiverFunction.function, { proxy: true }));

    this.acknowledge();
  }

  private acknowledge(): void {
    Validations.of(this.api).acknowledge(
      {
        id: "AwsSolutions-APIG2",
        reason:
          "The receiver must see the raw body to verify its Svix signature before anything else: gateway validation would answer unverified requests with details first. The receiver refuses every unverified request (401) and oversized body (413) itself.",
      },
      {
        id: "AwsSolutions-APIG3",
        reason:
          "WAF is left optional: every request is authenticated by its Svix signature (HMAC-SHA256, 5-minute timestamp window) before it has any effect; stage and method throttling and the receiver's reserved concurrency bound a flood. Attach a WebACL if the account's policy requires one.",
      },
      {
        id: "AwsSolutions-APIG4",
        reason:
          "ev.energy cannot sign with AWS credentials or obtain tokens from us: the receiver authenticates each request by its Svix signature against the signing secret in Secrets Manager.",
      },
      {
        id: "AwsSolutions-COG4",
        reason:
          "The only caller is ev.energy's webhook sender (Svix), authenticated by its signature; there are no users for a Cognito user pool.",
      },
    );
    Validations.of(this.receiverFunction.function).acknowledge({
      id: "Serverless-LambdaDLQ",
      reason:
        "API Gateway invokes the receiver synchronously: a failure is answered to Svix (503), which delivers again; nothing is queued asynchronously.",
    });
    Validations.of(this.workerFunction.function).acknowledge(
      {
        id: "Serverless-LambdaDLQ",
        reason:
          "The worker is fed by an SQS event source: a message that keeps failing moves to the queue's dead-letter queue (redrive policy); it is never invoked asynchronously.",
      },
      {
        id: "Serverless-LambdaEventSourceMappingDestination",
        reason:
          "SQS sources support no on-failure destination: failed webhook messages go to the queue's dead-letter queue, which alarms; the poll reconciles their devices anyway.",
      },
    );
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "Serverless-SQSRedrivePolicy",
      reason:
        "The webhook queue's dead-letter queue is the end of the chain: a message there alarms, and its device is reconciled by the next sweep; a further queue would only hide it.",
    });
  }
}
