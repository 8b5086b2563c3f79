/**
 * What the rehearsal's steps share: the world they fill as they go, the simulator's clients and
 * the callers the flow acts as, and the small helpers the steps use (expectations, draining a
 * subscriber's queue, describing an answer, a consumer's rule on the bus).
 */
import { randomUUID } from "node:crypto";
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Simulator } from "../../local/simulator/types.js";
import type { Deployment } from "./deploy.js";
import {
  type ApiAnswer,
  type ApiGatewayStandIn,
  fireSchedule,
  type ScheduledRun,
  type SqsEventSource,
} from "./event-sources.js";
import type { Caller, Invocation, LambdaEnvironment } from "./lambda-runner.js";
import { EMULATED, type Moto } from "./moto.js";
import type { PolicySource } from "./policy-check.js";
import type { DeployedFacts } from "./policy-context.js";
import type { RecordedCall, Recorder } from "./recorder.js";
import type { Assembly } from "./synth.js";

/** The functions by role in the flow, with the construct path CDK gives each. */
export const FUNCTIONS = {
  poll: "Poller/PollFunction/Function/Resource",
  api: "Decommission/ApiFunction/Function/Resource",
  executor: "Decommission/ExecutorFunction/Function/Resource",
  reconciler: "Decommission/ReconcilerFunction/Function/Resource",
  deadLetters: "Decommission/DeadLetterFunction/Function/Resource",
  webhookReceiver: "Webhooks/ReceiverFunction/Function/Resource",
  webhookWorker: "Webhooks/WorkerFunction/Function/Resource",
} as const;
export type FunctionRole = keyof typeof FUNCTIONS;

/** The simulator's OAuth clients: a read-only one for the poll and a write one for execution. */
export const READER = {
  clientId: "rehearsal-reader",
  clientSecret: randomUUID(),
  scopes: ["evse:read"],
};
export const WRITER = {
  clientId: "rehearsal-writer",
  clientSecret: randomUUID(),
  scopes: ["evse:write"],
};

export const account = EMULATED.account;
export const REQUESTER = `arn:aws:sts::${account}:assumed-role/fleet-operations/alice`;
export const approver = (name: string) =>
  `arn:aws:sts::${account}:assumed-role/evse-ops-dev-approver/${name}`;

export interface BusEvent {
  id: string;
  source: string;
  "detail-type": string;
  detail: { eventId?: string; evseId?: string; requestId?: string; [key: string]: unknown };
}

/** Everything the steps share; filled as they go. */
export class World {
  moto?: Moto;
  assembly?: Assembly;
  simulator?: Simulator;
  deployment?: Deployment;
  recorder?: Recorder;
  policies?: PolicySource;
  functions = new Map<string, LambdaEnvironment>();
  named = new Map<FunctionRole, LambdaEnvironment>();
  api?: ApiGatewayStandIn;
  /** The webhooks' public API, which ev.energy calls without AWS credentials. */
  webhookApi?: ApiGatewayStandIn;
  /** The worker's queue, fed by the webhook receiver. */
  webhookSource?: SqsEventSource;
  /** The signing secret the rehearsal put into the stack's secret, as ev.energy would hold it. */
  webhookSecret?: string;
  executionSource?: SqsEventSource;
  deadLetterSource?: SqsEventSource;
  subscriberQueue?: string;
  facts?: DeployedFacts;
  /** Calls recorded before the forbidden probes: the flow's own. */
  flowCalls?: RecordedCall[];
  probes: Array<{ what: string; errorName: string; call?: RecordedCall }> = [];
  startedAt = new Date();
  /** Devices the flow works on. */
  devices: Record<string, string> = {};
  requests: Record<string, string> = {};

  constructor(readonly workDir: string) {}

  need<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`${what} is not there (an earlier step failed)`);
    return value;
  }

  fn(role: FunctionRole): LambdaEnvironment {
    return this.need(this.named.get(role), `the ${role} function`);
  }

  /**
   * What an operator knows of the deployment: the stacks' outputs and the stage's settings,
   * never the functions' environment (a wrong variable there must fail in the function).
   */
  deployed() {
    const deployment = this.need(this.deployment, "the deployment");
    const { outputs, template } = deployment.stateful;
    const output = (name: string) => this.need(outputs[name], `the stateful stack's ${name}`);
    const bus = Object.values(template.Resources).find(
      (resource) => resource.Type === "AWS::Events::EventBus",
    )?.Properties as { Name?: string } | undefined;
    const keys = Object.values(deployment.created).filter((created) =>
      created.arn.includes(":kms:"),
    );
    return {
      busName: this.need(bus?.Name, "the event bus's name"),
      eventSource: this.need(this.assembly, "the synth").eventSource,
      tableName: output("TableName"),
      readSecretArn: output("ReadSecretArn"),
      writeSecretArn: output("WriteSecretArn"),
      webhookSecretArn: output("WebhookSigningSecretArn"),
      archiveName: output("ArchiveName"),
      approvalKeyArn: this.need(keys.length === 1 ? keys[0]?.arn : undefined, "one approval key"),
    };
  }

  async stop(): Promise<void> {
    for (const environment of this.functions.values()) await environment.stop();
    await this.recorder?.stop();
    await this.simulator?.close();
    await this.moto?.stop();
  }
}

export interface Step {
  readonly title: string;
  /** Runs even after an earlier step failed (the policy check audits what did run). */
  readonly always?: boolean;
  run(world: World): Promise<string[]>;
}

export function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

export function sqs(world: World): SQSClient {
  return new SQSClient(world.need(world.moto, "moto").clientConfig);
}

/** Takes every message off a queue (the rehearsal's own subscriber queues). */
export async function drain(world: World, queueUrl: string): Promise<BusEvent[]> {
  const client = sqs(world);
  const events: BusEvent[] = [];
  for (;;) {
    const { Messages: messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (messages.length === 0) return events;
    for (const message of messages) {
      events.push(JSON.parse(message.Body ?? "{}") as BusEvent);
      await client.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    }
  }
}

export function countBy(values: string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => `${count} × ${value}`).join(", ") || "none";
}

/** A function's failure in one line: its error type and message (the stack is in its log). */
export function failure(invocation: Invocation | undefined): string {
  const error = invocation?.error;
  return error === undefined ? "no error" : `${error.errorType}: ${error.errorMessage}`;
}

/** Fires the schedule that invokes `role`'s function, as Scheduler would; the run must succeed. */
export async function runScheduled(
  world: World,
  role: "poll" | "reconciler",
): Promise<ScheduledRun> {
  const run = await fireSchedule(
    world.need(world.moto, "moto"),
    world.need(world.deployment, "deployment").stateless,
    world.fn(role),
    world.need(world.policies, "policies"),
  );
  expect(
    run.invocation.error === undefined,
    `the ${role} failed: ${failure(run.invocation)}; Scheduler's stand-in sent its invocation record to ${run.onFailure ?? "no on-failure queue"}`,
  );
  return run;
}

export function problemType(answer: ApiAnswer): string {
  const type = (answer.json as { type?: unknown } | null)?.type;
  return typeof type === "string" ? type.replace("urn:evse-ops:problem:", "") : "";
}

export function describeAnswer(answer: ApiAnswer): string {
  return `${answer.status} ${problemType(answer) || JSON.stringify(answer.json).slice(0, 200)}`;
}

export async function getRequest(world: World, id: string) {
  const answer = await world.need(world.api, "API").call({
    method: "GET",
    path: `/decommission-requests/${id}`,
    caller: REQUESTER,
  });
  expect(answer.status === 200, `GET request ${id}: ${describeAnswer(answer)}`);
  return answer.json as {
    status: string;
    execution: { attempts: number; nextAttemptAt: string | null; lastError: string | null };
  };
}

/** alice requests `evseId`'s decommission; returns the request's id. */
export async function requestDecommission(world: World, evseId: string): Promise<string> {
  const created = await world.need(world.api, "API").call({
    method: "POST",
    path: "/decommission-requests",
    caller: REQUESTER,
    headers: [["Idempotency-Key", randomUUID()]],
    body: { evseId, reason: "rehearsal: site closed" },
  });
  expect(created.status === 201, `request ${evseId}: ${describeAnswer(created)}`);
  return (created.json as { id: string }).id;
}

export async function requestAndApprove(world: World, evseId: string): Promise<[string, string[]]> {
  const api = world.need(world.api, "API");
  const id = await requestDecommission(world, evseId);
  const approved = await api.call({
    method: "POST",
    path: `/decommission-requests/${id}/approve`,
    caller: approver("bob"),
    body: { comment: "rehearsal" },
  });
  expect(approved.status === 202, `approve ${id} as bob: ${describeAnswer(approved)}`);
  const status = (approved.json as { status?: string }).status;
  expect(status === "APPROVED", `approved ${id} is ${status}`);
  return [id, [`alice requests ${id} for ${evseId}: 201; bob approves: 202 ${status}`]];
}

/** Calls of `role`'s function recorded since index `from`. */
export function callsOf(world: World, role: FunctionRole, from = 0): RecordedCall[] {
  const name = world.fn(role).fn.name;
  return world
    .need(world.recorder, "recorder")
    .calls.slice(from)
    .filter((call) => call.caller === name);
}

// ------------------------------------------------------------------------------------ the steps

/** The flow's name for a function (`poll`, `executor`, …), from its deployed name. */
export function roleOf(world: World, functionName: string): string {
  const found = [...world.named].find(([, environment]) => environment.fn.name === functionName);
  return found?.[0] ?? functionName;
}

export function credentials(caller: Caller) {
  return {
    accessKeyId: caller.accessKeyId,
    secretAccessKey: caller.secretAccessKey,
    sessionToken: caller.sessionToken,
  };
}

/** A consumer's rule on the bus, targeting a new queue of the rehearsal's. */
export async function subscribe(
  world: World,
  busName: string,
  name: string,
  pattern: Record<string, unknown>,
): Promise<string> {
  const moto = world.need(world.moto, "moto");
  const client = sqs(world);
  const { QueueUrl: url } = await client.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes: attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  const events = new EventBridgeClient(moto.clientConfig);
  await events.send(
    new PutRuleCommand({
      Name: name,
      EventBusName: busName,
      EventPattern: JSON.stringify(pattern),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: name,
      EventBusName: busName,
      Targets: [{ Id: "queue", Arn: attributes?.QueueArn }],
    }),
  );
  return world.need(url, "a queue URL");
}
