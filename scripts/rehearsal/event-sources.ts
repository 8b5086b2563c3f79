/**
 * Stand-ins for what invokes the functions on AWS, each configured from what was deployed:
 * - EventBridge Scheduler (moto skips schedules): the schedule's own input from the template,
 *   its context attributes filled, delivered only if the schedule's role may invoke the
 *   function; a failed run goes to the on-failure destination of the function's (also skipped)
 *   asynchronous invoke configuration, after its retries.
 * - API Gateway: the deployed API's resources and methods (AWS_IAM, Lambda proxy), a REST proxy
 *   event carrying the IAM identity API Gateway would have verified, and the function's
 *   permission for API Gateway to invoke it. Signature checks, the API's resource policy and
 *   the request validator are not stood in for.
 * - Lambda's SQS event source: the deployed mapping (batch size, ReportBatchItemFailures) on
 *   the queue as deployed (visibility timeout; redrive policy, applied by the emulator's SQS),
 *   polling only if the function's role allows the poller's calls.
 */
import { randomUUID } from "node:crypto";
import {
  GetPolicyCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from "@aws-sdk/client-lambda";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSEvent } from "aws-lambda";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { isObject, type Json, type JsonObject, type Template } from "./adjustments.js";
import type { DeployedStack } from "./deploy.js";
import type { Invocation, LambdaEnvironment } from "./lambda-runner.js";
import { EMULATED, type Moto } from "./moto.js";
import { decide, type PolicySource } from "./policy-check.js";

function resource(template: Template, logicalId: string): JsonObject {
  const found = template.Resources[logicalId];
  if (found === undefined) throw new Error(`no resource ${logicalId} in the template`);
  return isObject(found.Properties) ? found.Properties : {};
}

function getAttTarget(value: Json | undefined): string | undefined {
  const getAtt = isObject(value) ? value["Fn::GetAtt"] : undefined;
  return Array.isArray(getAtt) && typeof getAtt[0] === "string" ? getAtt[0] : undefined;
}

function refTarget(value: Json | undefined): string | undefined {
  return isObject(value) && typeof value.Ref === "string" ? value.Ref : undefined;
}

/** The logical id of the one resource whose properties reference `logicalId` at `path`. */
function findReferring(
  template: Template,
  type: string,
  reference: (properties: JsonObject) => string | undefined,
  logicalId: string,
): [string, JsonObject] | undefined {
  for (const [id, found] of Object.entries(template.Resources)) {
    if (found.Type !== type || !isObject(found.Properties)) continue;
    if (reference(found.Properties) === logicalId) return [id, found.Properties];
  }
  return undefined;
}

function queueUrl(stack: DeployedStack, queueLogicalId: string): string {
  const url = stack.physicalIds[queueLogicalId];
  if (url === undefined) throw new Error(`queue ${queueLogicalId} was not deployed`);
  return url;
}

function queueUrlFromArn(arn: string): string {
  const [, , , region, account, name] = arn.split(":");
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}

// ------------------------------------------------------------------------------------ Scheduler

export interface ScheduledRun {
  readonly input: unknown;
  readonly invocation: Invocation;
  /** The invocation record sent to the on-failure destination, when the run failed. */
  readonly onFailure?: string;
}

/** EventBridge Scheduler firing the schedule that targets `fn`. */
export async function fireSchedule(
  moto: Moto,
  stack: DeployedStack,
  fn: LambdaEnvironment,
  policies: PolicySource,
): Promise<ScheduledRun> {
  const found = findReferring(
    stack.template,
    "AWS::Scheduler::Schedule",
    (properties) => getAttTarget(isObject(properties.Target) ? properties.Target.Arn : undefined),
    fn.fn.logicalId,
  );
  if (found === undefined) throw new Error(`no schedule targets ${fn.fn.logicalId}`);
  const [scheduleId, schedule] = found;
  if (schedule.State !== "ENABLED") throw new Error(`${scheduleId} is ${String(schedule.State)}`);
  const target = isObject(schedule.Target) ? schedule.Target : {};

  // Scheduler assumes the schedule's role to invoke: it must allow lambda:InvokeFunction.
  const roleId = getAttTarget(target.RoleArn);
  const roleName = roleId === undefined ? undefined : stack.physicalIds[roleId];
  if (roleName === undefined) throw new Error(`${scheduleId} has no deployed role`);
  const roleArn = `arn:${EMULATED.partition}:iam::${EMULATED.account}:role/${roleName}`;
  const verdict = await decide(
    policies,
    `arn:${EMULATED.partition}:sts::${EMULATED.account}:assumed-role/${roleName}/scheduler`,
    roleArn,
    { action: "lambda:InvokeFunction", resource: fn.fn.arn, context: {} },
  );
  if (verdict.decision !== "Allowed" || verdict.problems.length > 0) {
    throw new Error(
      `${scheduleId}'s role may not invoke ${fn.fn.name}: ${verdict.decision} ${verdict.problems.join("; ")}`,
    );
  }

  const name = `${stack.name}-${scheduleId}`;
  const now = new Date();
  const attributes: Record<string, string> = {
    "aws.scheduler.schedule-arn": `arn:${EMULATED.partition}:scheduler:${EMULATED.region}:${EMULATED.account}:schedule/default/${name}`,
    "aws.scheduler.scheduled-time": now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    "aws.scheduler.execution-id": randomUUID(),
    "aws.scheduler.attempt-number": "1",
  };
  const template = typeof target.Input === "string" ? target.Input : "{}";
  const input = JSON.parse(
    template.replace(
      /<(aws\.scheduler\.[a-z-]+)>/g,
      (whole, key: string) => attributes[key] ?? whole,
    ),
  );
  const invocation = await fn.invoke(input);
  if (invocation.error === undefined) return { input, invocation };

  // An asynchronous invocation that failed: retries, then the on-failure destination.
  const config = findReferring(
    stack.template,
    "AWS::Lambda::EventInvokeConfig",
    (properties) => refTarget(properties.FunctionName),
    fn.fn.logicalId,
  );
  if (config === undefined) return { input, invocation };
  const [, invokeConfig] = config;
  if (invokeConfig.MaximumRetryAttempts !== 0) {
    throw new Error(`${fn.fn.name}: the stand-in does not retry asynchronous invocations`);
  }
  const destination = isObject(invokeConfig.DestinationConfig)
    ? invokeConfig.DestinationConfig.OnFailure
    : undefined;
  const queueId = getAttTarget(isObject(destination) ? destination.Destination : undefined);
  if (queueId === undefined) return { input, invocation };
  const record = {
    version: "1.0",
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId: invocation.requestId,
      functionArn: `${fn.fn.arn}:$LATEST`,
      condition: "RetriesExhausted",
      approximateInvokeCount: 1,
    },
    requestPayload: input,
    responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
    responsePayload: invocation.error,
  };
  await new SQSClient(moto.clientConfig).send(
    new SendMessageCommand({
      QueueUrl: queueUrl(stack, queueId),
      MessageBody: JSON.stringify(record),
    }),
  );
  return { input, invocation, onFailure: queueId };
}

// ---------------------------------------------------------------------------------- API Gateway

interface Route {
  readonly method: string;
  /** e.g. `/decommission-requests/{id}/approve` */
  readonly path: string;
  readonly resourceId: string;
  readonly authorization: string;
  readonly functionLogicalId: string | undefined;
}

/** The deployed API's methods, from its resources' path parts. */
export function apiRoutes(template: Template, restApiLogicalId: string): Route[] {
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const cached = paths.get(id);
    if (cached !== undefined) return cached;
    const properties = resource(template, id);
    const parent = properties.ParentId;
    const parentId = refTarget(parent);
    let parentPath = "";
    if (getAttTarget(parent) !== restApiLogicalId) {
      if (parentId === undefined) throw new Error(`API resource ${id} has no parent`);
      parentPath = pathOf(parentId);
    }
    const path = `${parentPath}/${String(properties.PathPart)}`;
    paths.set(id, path);
    return path;
  };
  // The stack holds more than one REST API (the decommission API and the webhooks' public one).
  return Object.entries(template.Resources)
    .filter(
      ([, found]) =>
        found.Type === "AWS::ApiGateway::Method" &&
        isObject(found.Properties) &&
        refTarget(found.Properties.RestApiId) === restApiLogicalId,
    )
    .map(([, found]) => {
      const properties = isObject(found.Properties) ? found.Properties : {};
      const resourceId = refTarget(properties.ResourceId);
      const integration = isObject(properties.Integration) ? properties.Integration : {};
      const uri = JSON.stringify(integration.Uri ?? null);
      const functionLogicalId =
        integration.Type === "AWS_PROXY"
          ? /"Fn::GetAtt":\["([^"]+)","Arn"\]/.exec(uri)?.[1]
          : undefined;
      return {
        method: String(properties.HttpMethod),
        path: resourceId === undefined ? "/" : pathOf(resourceId),
        resourceId: resourceId ?? "",
        authorization: String(properties.AuthorizationType),
        functionLogicalId,
      };
    });
}

export interface ApiCall {
  readonly method: string;
  /** Stage-less, e.g. `/decommission-requests`. */
  readonly path: string;
  readonly query?: Array<[string, string]>;
  readonly headers?: Array<[string, string]>;
  readonly body?: unknown;
  /** A body sent exactly as given (a signed webhook's), instead of `body` as JSON. */
  readonly rawBody?: string;
  /**
   * The caller's ARN, e.g. `arn:aws:sts::<account>:assumed-role/<role>/<session>`, for an
   * AWS_IAM method; none for a public one (authorization NONE).
   */
  readonly caller?: string;
}

export interface ApiAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The body parsed, when it is JSON (a problem, a listing); otherwise null. */
  readonly json: unknown;
  /** The body as sent (a CSV report, say). */
  readonly text: string;
  readonly invocation?: Invocation;
}

export class ApiGatewayStandIn {
  readonly #routes: Route[];

  constructor(
    private readonly stack: DeployedStack,
    private readonly restApiLogicalId: string,
    private readonly stageName: string,
    private readonly functions: ReadonlyMap<string, LambdaEnvironment>,
  ) {
    this.#routes = apiRoutes(stack.template, restApiLogicalId);
  }

  get routes(): readonly Route[] {
    return this.#routes;
  }

  /**
   * Whether API Gateway may invoke each method's function: the function's resource policy as
   * the emulator holds it (the template's AWS::Lambda::Permission), for the method's
   * execute-api ARN. Returns the methods checked; throws on the first one refused.
   */
  async checkInvokePermissions(moto: Moto): Promise<number> {
    const lambda = new LambdaClient(moto.clientConfig);
    for (const route of this.#routes) {
      const fn = route.functionLogicalId && this.functions.get(route.functionLogicalId);
      if (!fn) throw new Error(`${route.method} ${route.path} integrates no deployed function`);
      const { Policy: text } = await lambda.send(
        new GetPolicyCommand({ FunctionName: fn.fn.name }),
      );
      const policy = JSON.parse(text ?? "{}") as { Statement?: Array<Record<string, unknown>> };
      // moto adds the function's name to each statement, which is not IAM policy grammar.
      const statements = (policy.Statement ?? []).map(({ FunctionName: _name, ...rest }) => rest);
      const sourceArn = `arn:${EMULATED.partition}:execute-api:${EMULATED.region}:${EMULATED.account}:${this.#apiId()}/${this.stageName}/${route.method}${route.path}`;
      const response = await runSimulation(
        {
          request: {
            principal: "apigateway.amazonaws.com",
            action: "lambda:InvokeFunction",
            resource: { resource: fn.fn.arn, accountId: EMULATED.account },
            contextVariables: { "aws:SourceArn": sourceArn, "aws:SourceAccount": EMULATED.account },
          },
          identityPolicies: [],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: { ...policy, Statement: statements },
        },
        {},
      );
      if (response.resultType === "error" || response.overallResult !== "Allowed") {
        throw new Error(
          `API Gateway may not invoke ${fn.fn.name} for ${route.method} ${route.path}: ${response.resultType === "error" ? JSON.stringify(response.errors) : response.overallResult}`,
        );
      }
    }
    return this.#routes.length;
  }

  async call(call: ApiCall): Promise<ApiAnswer> {
    const route = this.#routes.find(
      (candidate) => candidate.method === call.method && matches(candidate.path, call.path),
    );
    if (route === undefined) {
      const json = { message: "Missing Authentication Token" };
      return { status: 403, headers: {}, json, text: JSON.stringify(json) };
    }
    // API Gateway verifies a caller only for AWS_IAM; a public method has none to hand over.
    const signed = route.authorization === "AWS_IAM";
    if (
      signed !== (call.caller !== undefined) ||
      !["AWS_IAM", "NONE"].includes(route.authorization)
    ) {
      throw new Error(
        `${route.method} ${route.path} is ${route.authorization}, called ${call.caller ? "with" : "without"} a caller`,
      );
    }
    const fn = route.functionLogicalId && this.functions.get(route.functionLogicalId);
    if (!fn) throw new Error(`${route.method} ${route.path} integrates no deployed function`);
    const invocation = await fn.invoke(this.#event(route, call));
    if (invocation.error !== undefined) {
      const json = { message: invocation.error };
      return { status: 504, headers: {}, json, text: JSON.stringify(json), invocation };
    }
    const result = invocation.result as APIGatewayProxyResult;
    const body = result.isBase64Encoded
      ? Buffer.from(result.body, "base64").toString()
      : result.body;
    const headers = Object.fromEntries(
      Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    return {
      status: result.statusCode,
      headers,
      json: /json/.test(headers["Content-Type"] ?? "") && body !== "" ? JSON.parse(body) : null,
      text: body,
      invocation,
    };
  }

  #event(route: Route, call: ApiCall): APIGatewayProxyEvent {
    const body = call.rawBody ?? (call.body === undefined ? null : JSON.stringify(call.body));
    const headers: Array<[string, string]> = [
      ["Host", `${this.#apiId()}.execute-api.${EMULATED.region}.amazonaws.com`],
      ["X-Forwarded-Proto", "https"],
      ...(body === null ? [] : ([["Content-Type", "application/json"]] as Array<[string, string]>)),
      ...(call.headers ?? []),
    ];
    const event = proxyEvent({
      method: call.method,
      path: call.path,
      query: call.query ?? [],
      headers,
      body,
      callerArn: call.caller ?? null,
      stage: this.stageName,
    });
    // As API Gateway fills it for a method on an explicit resource (not {proxy+}).
    const parameters = pathParameters(route.path, call.path);
    const caller = call.caller;
    const session = caller?.split("/").pop() ?? "";
    const identity =
      caller === undefined
        ? { ...event.requestContext.identity, userAgent: "Svix-Webhooks/1.0 (rehearsal)" }
        : {
            ...event.requestContext.identity,
            accessKey: "ASIAREHEARSALCALLER1",
            caller: `AROAREHEARSAL${Math.abs(hash(caller)).toString(36).toUpperCase()}:${session}`,
            user: `AROAREHEARSAL${Math.abs(hash(caller)).toString(36).toUpperCase()}:${session}`,
            userAgent: "rehearsal",
          };
    return {
      ...event,
      resource: route.path,
      pathParameters: Object.keys(parameters).length === 0 ? null : parameters,
      requestContext: {
        ...event.requestContext,
        accountId: EMULATED.account,
        apiId: this.#apiId(),
        resourceId: this.stack.physicalIds[route.resourceId] ?? route.resourceId,
        resourcePath: route.path,
        domainName: `${this.#apiId()}.execute-api.${EMULATED.region}.amazonaws.com`,
        identity,
      },
    };
  }

  #apiId(): string {
    return this.stack.physicalIds[this.restApiLogicalId] ?? "rehearsal";
  }
}

function matches(template: string, path: string): boolean {
  const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}/?$`);
  return pattern.test(path);
}

function pathParameters(template: string, path: string): Record<string, string> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? "");
  const values = new RegExp(`^${template.replace(/\{[^}]+\}/g, "([^/]+)")}/?$`).exec(path);
  return Object.fromEntries(
    names.map((name, index) => [name, decodeURIComponent(values?.[index + 1] ?? "")]),
  );
}

function hash(text: string): number {
  let value = 0;
  for (const char of text) value = (Math.imul(value, 31) + char.charCodeAt(0)) | 0;
  return value;
}

// ------------------------------------------------------------------------------ SQS event source

export interface SqsDelivery {
  /** The messages delivered in this batch. */
  readonly messages: readonly Message[];
  readonly invocation?: Invocation;
  /** Message ids the source deleted after the invocation. */
  readonly deleted: readonly string[];
  /** Message ids left on the queue (failed, or reported in batchItemFailures). */
  readonly kept: readonly string[];
}

/** Lambda's SQS poller for one function, configured by the deployed mapping. */
export class SqsEventSource {
  /** The messages the last poll left on the queue, in flight. */
  #kept: Message[] = [];

  private constructor(
    private readonly sqs: SQSClient,
    readonly fn: LambdaEnvironment,
    readonly queueArn: string,
    readonly queueUrl: string,
    readonly batchSize: number,
    readonly reportBatchItemFailures: boolean,
    readonly visibilityTimeoutSeconds: number,
    readonly redrivePolicy: { deadLetterTargetArn: string; maxReceiveCount: number } | undefined,
  ) {}

  /**
   * The function's mapping and queue as deployed. Lambda polls with the function's own role,
   * so that role must allow what the poller calls on the queue: checked here as IAM would.
   */
  static async connect(
    moto: Moto,
    fn: LambdaEnvironment,
    policies: PolicySource,
  ): Promise<SqsEventSource> {
    const mappings = await new LambdaClient(moto.clientConfig).send(
      new ListEventSourceMappingsCommand({ FunctionName: fn.fn.name }),
    );
    const [mapping, ...others] = (mappings.EventSourceMappings ?? []).filter((each) =>
      each.EventSourceArn?.includes(":sqs:"),
    );
    if (mapping?.EventSourceArn === undefined || others.length > 0) {
      throw new Error(`${fn.fn.name} has not exactly one SQS event source mapping`);
    }
    if (mapping.State !== "Enabled") throw new Error(`${fn.fn.name}'s mapping is ${mapping.State}`);
    for (const action of ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]) {
      const verdict = await decide(policies, fn.fn.caller.sessionArn, fn.fn.roleArn, {
        action,
        resource: mapping.EventSourceArn,
        context: {},
      });
      if (verdict.decision !== "Allowed" || verdict.problems.length > 0) {
        throw new Error(
          `Lambda could not poll ${mapping.EventSourceArn} for ${fn.fn.name}: its role is ${verdict.decision} ${action} ${verdict.problems.join("; ")}`,
        );
      }
    }
    const sqs = new SQSClient(moto.clientConfig);
    const url = queueUrlFromArn(mapping.EventSourceArn);
    const attributes =
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] })))
        .Attributes ?? {};
    const visibility = Number(attributes.VisibilityTimeout);
    // Lambda refuses such a mapping: a message could reappear while its invocation still runs.
    if (!(visibility >= fn.fn.timeoutSeconds)) {
      throw new Error(
        `${fn.fn.name}: its queue's visibility timeout (${visibility} s) is shorter than the function's timeout (${fn.fn.timeoutSeconds} s)`,
      );
    }
    return new SqsEventSource(
      sqs,
      fn,
      mapping.EventSourceArn,
      url,
      Math.min(mapping.BatchSize ?? 10, 10),
      (mapping.FunctionResponseTypes ?? []).includes("ReportBatchItemFailures"),
      visibility,
      attributes.RedrivePolicy === undefined ? undefined : JSON.parse(attributes.RedrivePolicy),
    );
  }

  /** One poll: receive up to a batch, invoke, delete what succeeded. */
  async poll(): Promise<SqsDelivery> {
    const received = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: this.batchSize,
        AttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
        WaitTimeSeconds: 0,
      }),
    );
    const messages = received.Messages ?? [];
    this.#kept = [];
    if (messages.length === 0) return { messages, deleted: [], kept: [] };
    const invocation = await this.fn.invoke(this.#event(messages));
    const ids = messages.map((message) => message.MessageId ?? "");
    let failed = new Set<string>();
    if (invocation.error !== undefined) {
      failed = new Set(ids);
    } else if (this.reportBatchItemFailures) {
      const reported = (invocation.result as { batchItemFailures?: unknown } | null)
        ?.batchItemFailures;
      const identifiers = Array.isArray(reported)
        ? reported.map((item) => (item as { itemIdentifier?: unknown }).itemIdentifier)
        : [];
      // An answer naming no message of the batch fails the whole batch, as Lambda does.
      failed = identifiers.every((id) => typeof id === "string" && ids.includes(id))
        ? new Set(identifiers as string[])
        : new Set(ids);
    }
    const deleted: string[] = [];
    for (const message of messages) {
      const id = message.MessageId ?? "";
      if (failed.has(id)) continue;
      await this.sqs.send(
        new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
      deleted.push(id);
    }
    this.#kept = messages.filter((message) => failed.has(message.MessageId ?? ""));
    return { messages, invocation, deleted, kept: ids.filter((id) => failed.has(id)) };
  }

  /**
   * Stands in for time passing: the messages the last poll left in flight become visible now,
   * as they would once their timeout (the queue's, or the one the function set) ran out. Not a
   * function's call, and not recorded.
   */
  async elapseVisibility(): Promise<void> {
    for (const message of this.#kept) {
      await this.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
  }

  /** Visible and in-flight message counts. */
  async depth(): Promise<{ visible: number; inFlight: number }> {
    const { Attributes: attributes = {} } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return {
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }

  #event(messages: readonly Message[]): SQSEvent {
    return {
      Records: messages.map((message) => ({
        messageId: message.MessageId ?? "",
        receiptHandle: message.ReceiptHandle ?? "",
        body: message.Body ?? "",
        attributes: {
          ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1",
          SentTimestamp: message.Attributes?.SentTimestamp ?? "",
          SenderId: message.Attributes?.SenderId ?? "",
          ApproximateFirstReceiveTimestamp:
            message.Attributes?.ApproximateFirstReceiveTimestamp ?? "",
        },
        messageAttributes: Object.fromEntries(
          Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
            name,
            {
              stringValue: value.StringValue,
              binaryValue: value.BinaryValue
                ? Buffer.from(value.BinaryValue).toString("base64")
                : undefined,
              stringListValues: value.StringListValues ?? [],
              binaryListValues: [],
              dataType: value.DataType ?? "String",
            },
          ]),
        ),
        md5OfBody: message.MD5OfBody ?? "",
        eventSource: "aws:sqs",
        eventSourceARN: this.queueArn,
        awsRegion: EMULATED.region,
      })),
    };
  }
}
