/**
 * The rehearsal's steps, in order: deploy, then the whole flow of the product against the
 * simulated ev.energy and the emulated AWS, then the policy check of every call the functions
 * made. Each step returns the lines it prints under its row of the table; a failed expectation
 * throws.
 */
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  StartReplayCommand,
} from "@aws-sdk/client-eventbridge";
import { GenerateMacCommand, KMSClient } from "@aws-sdk/client-kms";
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import {
  CONTROL_PARTITION,
  POLL_PAUSE_SORT_KEY,
} from "../../functions/adapters/dynamodb/table-design.js";
import {
  CHANGE_DETAIL_TYPES,
  DECOMMISSION_DETAIL_TYPES,
  EXECUTION_REQUESTED_DETAIL_TYPE,
} from "../../infra/constructs/bus-publishing.js";
import { startSimulator } from "../../local/simulator/index.js";
import type { Simulator } from "../../local/simulator/types.js";
import { type Deployment, deploy } from "./deploy.js";
import {
  type ApiAnswer,
  ApiGatewayStandIn,
  fireSchedule,
  SqsEventSource,
} from "./event-sources.js";
import { type Caller, type Invocation, LambdaEnvironment, loadFunction } from "./lambda-runner.js";
import { EMULATED, type Moto, startMoto } from "./moto.js";
import { deployedFacts, deployedPolicies, type PolicySource } from "./policy-check.js";
import type { DeployedFacts } from "./policy-context.js";
import { type RecordedCall, type Recorder, startRecorder } from "./recorder.js";
import { type Assembly, synthesize } from "./synth.js";

/** The functions by role in the flow, with the construct path CDK gives each. */
const FUNCTIONS = {
  poll: "Poller/PollFunction/Function/Resource",
  api: "Decommission/ApiFunction/Function/Resource",
  executor: "Decommission/ExecutorFunction/Function/Resource",
  reconciler: "Decommission/ReconcilerFunction/Function/Resource",
  deadLetters: "Decommission/DeadLetterFunction/Function/Resource",
} as const;
type FunctionRole = keyof typeof FUNCTIONS;

/** The simulator's OAuth clients: a read-only one for the poll and a write one for execution. */
const READER = { clientId: "rehearsal-reader", clientSecret: randomUUID(), scopes: ["evse:read"] };
const WRITER = { clientId: "rehearsal-writer", clientSecret: randomUUID(), scopes: ["evse:write"] };

const account = EMULATED.account;
const REQUESTER = `arn:aws:sts::${account}:assumed-role/fleet-operations/alice`;
const approver = (name: string) =>
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

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

function sqs(world: World): SQSClient {
  return new SQSClient(world.need(world.moto, "moto").clientConfig);
}

/** Takes every message off a queue (the rehearsal's own subscriber queues). */
async function drain(world: World, queueUrl: string): Promise<BusEvent[]> {
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

function countBy(values: string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => `${count} × ${value}`).join(", ") || "none";
}

/** A function's failure in one line: its error type and message (the stack is in its log). */
function failure(invocation: Invocation | undefined): string {
  const error = invocation?.error;
  return error === undefined ? "no error" : `${error.errorType}: ${error.errorMessage}`;
}

function problemType(answer: ApiAnswer): string {
  const type = (answer.json as { type?: unknown } | null)?.type;
  return typeof type === "string" ? type.replace("urn:evse-ops:problem:", "") : "";
}

function describeAnswer(answer: ApiAnswer): string {
  return `${answer.status} ${problemType(answer) || JSON.stringify(answer.json).slice(0, 200)}`;
}

async function getRequest(world: World, id: string) {
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

async function requestAndApprove(world: World, evseId: string): Promise<[string, string[]]> {
  const api = world.need(world.api, "API");
  const created = await api.call({
    method: "POST",
    path: "/decommission-requests",
    caller: REQUESTER,
    headers: [["Idempotency-Key", randomUUID()]],
    body: { evseId, reason: "rehearsal: site closed" },
  });
  expect(created.status === 201, `request ${evseId}: ${describeAnswer(created)}`);
  const id = (created.json as { id: string; status: string }).id;
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
function callsOf(world: World, role: FunctionRole, from = 0): RecordedCall[] {
  const name = world.fn(role).fn.name;
  return world
    .need(world.recorder, "recorder")
    .calls.slice(from)
    .filter((call) => call.caller === name);
}

// ------------------------------------------------------------------------------------ the steps

export const STEPS: readonly Step[] = [
  {
    title: "synthesize the dev stage into .rehearsal/cdk.out (cdk synth)",
    async run(world) {
      const directory = join(world.workDir, "cdk.out");
      rmSync(directory, { recursive: true, force: true });
      world.assembly = await synthesize(directory);
      const { stateful, stateless } = world.assembly;
      const count = (template: { Resources: object }) => Object.keys(template.Resources).length;
      return [
        `${stateful.name}: ${count(stateful.template)} resources; ${stateless.name}: ${count(stateless.template)} resources, ${stateless.assets.filter((asset) => asset.packaging === "zip").length} bundles`,
      ];
    },
  },
  {
    title: "start moto 5.2.1 and the simulated ev.energy",
    async run(world) {
      world.moto = await startMoto(world.workDir);
      world.simulator = await startSimulator({ clients: [READER, WRITER], staticTokens: [] });
      return [
        `moto on ${world.moto.endpoint} (workarounds: jsonpath parser cache, no SQS-to-Lambda delivery)`,
        `simulator on ${world.simulator.origin}: ${world.simulator.fleet.list().length} EVSEs`,
      ];
    },
  },
  {
    title: "deploy both templates with CloudFormation calls",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      world.deployment = await deploy(
        world.need(world.moto, "moto"),
        world.need(world.assembly, "synth"),
        { apiBaseUrl: simulator.apiBaseUrl, tokenUrl: simulator.tokenUrl },
      );
      const { stateful, stateless, adjustments } = world.deployment;
      return [
        `${stateful.name}, ${stateless.name}: CREATE_COMPLETE`,
        ...adjustments.map(({ name, reason }) => `adjusted: ${name} (${reason})`),
        `skipped by moto, as expected: ${[...new Set([...stateful.skippedTypes, ...stateless.skippedTypes])].join(", ")}`,
      ];
    },
  },
  {
    title: "load each function's bundle and environment from the emulator",
    async run(world) {
      const moto = world.need(world.moto, "moto");
      const deployment = world.need(world.deployment, "deployment");
      world.policies = deployedPolicies(moto);
      world.facts = await deployedFacts(moto, deployment);
      const facts = world.facts;
      world.recorder = await startRecorder(moto.endpoint, world.policies, () => ({
        ...facts,
        now: new Date(),
      }));
      const { stateless } = deployment;
      const lines: string[] = [];
      for (const [role, path] of Object.entries(FUNCTIONS) as Array<[FunctionRole, string]>) {
        const logicalId = Object.entries(stateless.template.Resources).find(
          ([, resource]) =>
            resource.Type === "AWS::Lambda::Function" &&
            (resource.Metadata as { "aws:cdk:path"?: string } | undefined)?.["aws:cdk:path"] ===
              `${stateless.name}/${path}`,
        )?.[0];
        const physical = logicalId === undefined ? undefined : stateless.physicalIds[logicalId];
        if (logicalId === undefined || physical === undefined) throw new Error(`no ${path}`);
        const fn = await loadFunction(
          moto,
          logicalId,
          physical,
          deployment.assetBucket,
          world.workDir,
        );
        world.recorder.register(fn.caller);
        const environment = new LambdaEnvironment(
          fn,
          world.recorder.endpoint,
          join(world.workDir, "logs"),
        );
        world.functions.set(logicalId, environment);
        world.named.set(role, environment);
        lines.push(
          `${role}: ${fn.handler}, ${fn.timeoutSeconds} s, ${Object.keys(fn.environment).length} variables, role ${fn.roleArn.split("/").pop()}`,
        );
      }
      const restApi = Object.entries(stateless.template.Resources).find(
        ([, resource]) => resource.Type === "AWS::ApiGateway::RestApi",
      )?.[0];
      const stage = Object.values(stateless.template.Resources).find(
        (resource) => resource.Type === "AWS::ApiGateway::Stage",
      )?.Properties as { StageName?: string } | undefined;
      world.api = new ApiGatewayStandIn(
        stateless,
        world.need(restApi, "the REST API"),
        stage?.StageName ?? "dev",
        world.functions,
      );
      world.executionSource = await SqsEventSource.connect(
        moto,
        world.fn("executor"),
        world.policies,
      );
      world.deadLetterSource = await SqsEventSource.connect(
        moto,
        world.fn("deadLetters"),
        world.policies,
      );
      for (const source of [world.executionSource, world.deadLetterSource]) {
        lines.push(
          `${source.fn.fn.logicalId} ← SQS: batch ${source.batchSize}, visibility ${source.visibilityTimeoutSeconds} s, ${source.reportBatchItemFailures ? "ReportBatchItemFailures" : "whole batches"}, ${source.redrivePolicy ? `redrive after ${source.redrivePolicy.maxReceiveCount} receives` : "no redrive"}`,
        );
      }
      const permitted = await world.api.checkInvokePermissions(moto);
      lines.push(
        `API: ${world.api.routes.length} methods, all ${[...new Set(world.api.routes.map((route) => route.authorization))].join("/")}; API Gateway may invoke the function of ${permitted} (its Lambda permission)`,
      );
      return lines;
    },
  },
  {
    title: "fill the secrets, start the poll; a subscriber's rule and queue on the bus",
    async run(world) {
      const moto = world.need(world.moto, "moto");
      const secrets = new SecretsManagerClient(moto.clientConfig);
      const deployed = world.deployed();
      // As the README tells an operator: into the secrets the stack's outputs name.
      for (const [secretId, client] of [
        [deployed.readSecretArn, READER],
        [deployed.writeSecretArn, WRITER],
      ] as const) {
        await secrets.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            SecretString: JSON.stringify({
              client_id: client.clientId,
              client_secret: client.clientSecret,
            }),
          }),
        );
      }
      // A new deployment's poll waits for its switch: start it, as the deploy guide does.
      await new DynamoDBClient(moto.clientConfig).send(
        new PutItemCommand({
          TableName: deployed.tableName,
          Item: {
            pk: { S: CONTROL_PARTITION },
            sk: { S: POLL_PAUSE_SORT_KEY },
            paused: { BOOL: false },
            changedBy: { S: "rehearsal" },
            changedAt: { S: new Date().toISOString() },
          },
        }),
      );
      const busName = deployed.busName;
      world.subscriberQueue = await subscribe(world, busName, "rehearsal-subscriber", {
        source: [deployed.eventSource],
        "detail-type": [...CHANGE_DETAIL_TYPES, ...DECOMMISSION_DETAIL_TYPES],
      });
      return [
        `ReadSecretArn ← ${READER.clientId} (evse:read), WriteSecretArn ← ${WRITER.clientId} (evse:write), as the README tells an operator`,
        `poll switch ${CONTROL_PARTITION} / ${POLL_PAUSE_SORT_KEY} ← paused false, as the deploy guide starts a new deployment's poll`,
        `subscriber: rule on ${busName} for ${CHANGE_DETAIL_TYPES.length + DECOMMISSION_DETAIL_TYPES.length} public detail-types → queue rehearsal-subscriber`,
      ];
    },
  },
  {
    title: "Scheduler runs the poll: changes published, the subscriber's rule receives them",
    async run(world) {
      const run = await fireSchedule(
        world.need(world.moto, "moto"),
        world.need(world.deployment, "deployment").stateless,
        world.fn("poll"),
        world.need(world.policies, "policies"),
      );
      expect(
        run.invocation.error === undefined,
        `the poll failed: ${failure(run.invocation)}; Scheduler's stand-in sent its invocation record to ${run.onFailure ?? "no on-failure queue"}`,
      );
      const summary = run.invocation.result as {
        changes: number;
        sweepComplete: boolean;
        pages: number;
      };
      const fleet = world.need(world.simulator, "simulator").fleet.list().length;
      expect(summary.sweepComplete, "the sweep did not complete");
      expect(summary.changes === fleet, `${summary.changes} changes for ${fleet} new EVSEs`);
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const ids = new Set(events.map((event) => event.detail.eventId));
      expect(
        events.length === summary.changes,
        `the subscriber got ${events.length} of ${summary.changes} events`,
      );
      expect(ids.size === events.length, "event ids repeat");
      return [
        `input ${JSON.stringify(run.input)}`,
        `summary: ${summary.pages} pages, ${summary.changes} changes, sweep complete`,
        `subscriber received ${events.length} events (${countBy(events.map((event) => event["detail-type"]))}), ${ids.size} distinct eventIds`,
      ];
    },
  },
  {
    title: "simulated time moves; the second poll publishes only the new changes",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      const now = simulator.clock.now();
      const online = simulator.fleet
        .list()
        .filter((device) => device.status !== null && now - device.status.sampledAt < 5 * 60_000);
      const idle = online.filter((device) => device.status?.isCharging === false);
      const [starts, removed, decommissioned, retried] = idle;
      expect(retried !== undefined, "the simulated fleet has too few idle online EVSEs");
      simulator.advance(120_000);
      simulator.fleet.update(starts?.id ?? "", {
        status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7200 },
      });
      simulator.fleet.remove(removed?.id ?? "");
      const added = simulator.fleet.add();
      world.devices = {
        started: starts?.id ?? "",
        decommissioned: decommissioned?.id ?? "",
        retried: retried?.id ?? "",
      };
      const expected = [
        `EVSE Status Changed ${starts?.id}`,
        `EVSE Removed ${removed?.id}`,
        `EVSE Discovered ${added.id}`,
      ].sort();

      const run = await fireSchedule(
        world.need(world.moto, "moto"),
        world.need(world.deployment, "deployment").stateless,
        world.fn("poll"),
        world.need(world.policies, "policies"),
      );
      expect(
        run.invocation.error === undefined,
        `the poll failed: ${failure(run.invocation)}; Scheduler's stand-in sent its invocation record to ${run.onFailure ?? "no on-failure queue"}`,
      );
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const got = events.map((event) => `${event["detail-type"]} ${event.detail.evseId}`).sort();
      expect(
        JSON.stringify(got) === JSON.stringify(expected),
        `expected ${expected.join("; ")}, the subscriber got ${got.join("; ") || "nothing"}`,
      );
      const summary = run.invocation.result as { changes: number };
      return [
        `simulator +2 min: one EVSE starts charging, one is removed, one appears`,
        `summary: ${summary.changes} changes; subscriber received exactly: ${got.join("; ")}`,
      ];
    },
  },
  {
    title: "the fleet as an operator reads it: snapshot, silent chargers, history, a month's CSV",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      // What an operator asks the API: the fleet now, the silent chargers, one charger's history,
      // last month's availability as CSV.
      const api = world.need(world.api, "API");
      const read = async (path: string, query: Array<[string, string]> = [], accept?: string) => {
        const answer = await api.call({
          method: "GET",
          path,
          query,
          caller: REQUESTER,
          ...(accept ? { headers: [["Accept", accept]] as Array<[string, string]> } : {}),
        });
        expect(answer.status === 200, `GET ${path}: ${describeAnswer(answer)}`);
        return answer;
      };
      const snapshot = (await read("/fleet")).json as {
        devices: { active: number; online: number; offline: number };
      };
      expect(
        snapshot.devices.active === simulator.fleet.list().length,
        `GET /fleet: ${snapshot.devices.active} active of ${simulator.fleet.list().length}`,
      );
      const silent: Array<{ evseId: string; sampledAt: string }> = [];
      let pages = 0;
      for (let cursor: string | null = null; pages === 0 || cursor !== null; pages++) {
        const page = (
          await read("/evses", [
            ["connectivity", "offline"],
            ["silentFor", "PT15M"],
            ["limit", "5"],
            ...(cursor ? ([["cursor", cursor]] as Array<[string, string]>) : []),
          ])
        ).json as { items: typeof silent; nextCursor: string | null };
        silent.push(...page.items);
        cursor = page.nextCursor;
      }
      const times = silent.map((item) => Date.parse(item.sampledAt));
      expect(
        silent.length === snapshot.devices.offline &&
          times.every((time, i) => i === 0 || (times[i - 1] ?? 0) <= time),
        `silent for 15 minutes: ${silent.length} in ${pages} pages, oldest first: ${times.every((time, i) => i === 0 || (times[i - 1] ?? 0) <= time)}; the snapshot says ${snapshot.devices.offline} offline`,
      );
      const one = world.need(world.devices.started, "the device that started charging");
      const history = (await read(`/evses/${one}/history`)).json as {
        items: Array<{ type: string }>;
      };
      const story = history.items.map((item) => item.type);
      expect(
        JSON.stringify(story) === JSON.stringify(["EVSE Status Changed", "EVSE Discovered"]),
        `history of ${one}, newest first: ${story.join(", ")}`,
      );
      const month = new Date(simulator.clock.now()).toISOString().slice(0, 7);
      const report = await read("/fleet/availability", [["month", month]], "text/csv");
      const lines = report.text.trim().split("\n");
      expect(
        report.headers["Content-Type"]?.startsWith("text/csv") === true &&
          lines.length === simulator.fleet.list().length + 2,
        `GET /fleet/availability?month=${month} as CSV: ${report.headers["Content-Type"]}, ${lines.length} lines`,
      );
      return [
        `GET /fleet: ${snapshot.devices.active} EVSEs, ${snapshot.devices.online} online, ${snapshot.devices.offline} offline`,
        `GET /evses?connectivity=offline&silentFor=PT15M: ${silent.length} in ${pages} pages, oldest sample first`,
        `GET /evses/${one}/history: ${story.join(", ")} (newest first)`,
        `GET /fleet/availability?month=${month} (Accept: text/csv): ${lines.length - 1} rows`,
      ];
    },
  },
  {
    title: "alice requests a decommission, bob approves (alice may not, nor a non-approver)",
    async run(world) {
      const api = world.need(world.api, "API");
      const evseId = world.need(world.devices.decommissioned, "a device");
      const created = await api.call({
        method: "POST",
        path: "/decommission-requests",
        caller: REQUESTER,
        headers: [["Idempotency-Key", randomUUID()]],
        body: { evseId, reason: "rehearsal: site closed" },
      });
      expect(created.status === 201, `request: ${describeAnswer(created)}`);
      const id = (created.json as { id: string }).id;
      world.requests.completed = id;
      const decide = (caller: string) =>
        api.call({
          method: "POST",
          path: `/decommission-requests/${id}/approve`,
          caller,
          body: {},
        });
      const self = await decide(approver("alice"));
      expect(
        self.status === 403 && problemType(self) === "self-approval",
        `alice approving: ${describeAnswer(self)}`,
      );
      const outsider = await decide(`arn:aws:sts::${account}:assumed-role/fleet-operations/bob`);
      expect(
        outsider.status === 403 && problemType(outsider) === "not-approver",
        `bob outside the approver role: ${describeAnswer(outsider)}`,
      );
      const approved = await decide(approver("bob"));
      expect(approved.status === 202, `bob approving: ${describeAnswer(approved)}`);
      const status = (approved.json as { status?: string }).status;
      expect(status === "APPROVED", `after bob's approval the request is ${status}`);
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const types = events.map((event) => event["detail-type"]);
      expect(
        types.includes("EVSE Decommission Requested") &&
          types.includes("EVSE Decommission Approved"),
        `the subscriber got ${countBy(types)}`,
      );
      return [
        `POST /decommission-requests as ${REQUESTER}: 201 ${id} for ${evseId}`,
        `approve as evse-ops-dev-approver/alice: ${describeAnswer(self)}`,
        `approve as fleet-operations/bob (not an approver role): ${describeAnswer(outsider)}`,
        `approve as evse-ops-dev-approver/bob: 202 ${status}`,
        `subscriber received ${countBy(types)}`,
      ];
    },
  },
  {
    title: "the execution event goes through the deployed rule into the executor's queue",
    async run(world) {
      const source = world.need(world.executionSource, "execution queue");
      const depth = await source.depth();
      expect(depth.visible === 1, `the execution queue holds ${depth.visible} messages, not 1`);
      return [
        `execution queue: ${depth.visible} message (rule pattern: source, detail-type, no replay-name)`,
      ];
    },
  },
  {
    title: "the executor deletes on the simulator; Completed is published",
    async run(world) {
      const source = world.need(world.executionSource, "execution queue");
      const delivery = await source.poll();
      expect(delivery.messages.length === 1, `${delivery.messages.length} messages delivered`);
      expect(delivery.invocation?.error === undefined, `executor: ${failure(delivery.invocation)}`);
      if (delivery.deleted.length !== 1) {
        const request = await getRequest(world, world.need(world.requests.completed, "request"));
        throw new Error(
          `the executor kept the message (${JSON.stringify(delivery.invocation?.result)}); the request is ${request.status}, last error: ${request.execution.lastError}`,
        );
      }
      const body = JSON.parse(delivery.messages[0]?.Body ?? "{}") as BusEvent;
      // Nothing but the stand-in received it first (moto's own SQS-to-Lambda delivery is off).
      const receives = delivery.messages[0]?.Attributes?.ApproximateReceiveCount;
      expect(receives === "1", `the message had been received ${receives} times`);
      const evseId = world.devices.decommissioned ?? "";
      const simulator = world.need(world.simulator, "simulator");
      expect(simulator.stats().deleted.includes(evseId), `${evseId} was not deleted upstream`);
      const request = await getRequest(world, world.need(world.requests.completed, "request"));
      expect(request.status === "COMPLETED", `the request is ${request.status}`);
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const completed = events.filter(
        (event) => event["detail-type"] === "EVSE Decommission Completed",
      );
      expect(
        completed.length === 1,
        `the subscriber got ${countBy(events.map((event) => event["detail-type"]))}`,
      );
      const device = await world.need(world.api, "API").call({
        method: "GET",
        path: `/evses/${evseId}`,
        caller: REQUESTER,
      });
      const lifecycle = (device.json as { lifecycle?: string } | null)?.lifecycle;
      expect(
        device.status === 200 && lifecycle === "decommissioned",
        `GET /evses/${evseId}: ${describeAnswer(device)}`,
      );
      return [
        `delivered: ${body["detail-type"]} (EventBridge envelope) → result ${JSON.stringify(delivery.invocation?.result)}, message deleted`,
        `simulator: DELETE ${evseId} (${simulator.stats().requests["DELETE /v2/evses/{id}"] ?? 0} DELETE in all)`,
        `request COMPLETED; subscriber received EVSE Decommission Completed; GET /evses/${evseId}: lifecycle ${lifecycle}`,
      ];
    },
  },
  {
    title: "a retry (simulator 503) moves the message's visibility to the backoff",
    async run(world) {
      const evseId = world.need(world.devices.retried, "a device");
      const [id, lines] = await requestAndApprove(world, evseId);
      world.requests.retried = id;
      await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const simulator = world.need(world.simulator, "simulator");
      simulator.script({ route: "GET /v2/evses/{id}", kind: "status", status: 503 });
      const source = world.need(world.executionSource, "execution queue");
      const from = world.need(world.recorder, "recorder").calls.length;
      const delivery = await source.poll();
      expect(delivery.invocation?.error === undefined, `executor: ${failure(delivery.invocation)}`);
      expect(
        delivery.kept.length === 1,
        `the message was not reported for redelivery: ${JSON.stringify(delivery.invocation?.result)}`,
      );
      const moves = callsOf(world, "executor", from).filter(
        (call) => call.operation === "ChangeMessageVisibility",
      );
      expect(moves.length === 1 && moves[0]?.status === 200, `visibility changes: ${moves.length}`);
      const seconds = Number(moves[0]?.body.VisibilityTimeout);
      const request = await getRequest(world, id);
      const due = Date.parse(request.execution.nextAttemptAt ?? "");
      // The executor measures the delay a moment before the recorder sees the call: it may
      // exceed the time left to nextAttemptAt by that moment, never fall short of it.
      const expectedSeconds = Math.ceil((due - (moves[0]?.at ?? 0)) / 1000);
      expect(
        seconds >= expectedSeconds - 1 &&
          seconds <= expectedSeconds + 10 &&
          seconds < source.visibilityTimeoutSeconds,
        `visibility ${seconds} s, next attempt in ${expectedSeconds} s, queue's ${source.visibilityTimeoutSeconds} s`,
      );
      const depth = await source.depth();
      expect(depth.inFlight === 1 && depth.visible === 0, `queue: ${JSON.stringify(depth)}`);
      return [
        ...lines,
        `executor → ${JSON.stringify(delivery.invocation?.result)}; lastError: ${request.execution.lastError}`,
        `ChangeMessageVisibility(${seconds} s) = the request's nextAttemptAt, not the queue's ${source.visibilityTimeoutSeconds} s; message in flight`,
      ];
    },
  },
  {
    title: "redrive: early redeliveries turned away, then dead-lettered and failed",
    async run(world) {
      const source = world.need(world.executionSource, "execution queue");
      const deadLetters = world.need(world.deadLetterSource, "dead-letter queue");
      const redrive = world.need(source.redrivePolicy, "a redrive policy");
      const simulator = world.need(world.simulator, "simulator");
      const upstreamBefore = simulator.stats().total;
      // The retry step's delivery is the first; each pass stands for the delay it set passing.
      let deliveries = 1;
      for (;;) {
        await source.elapseVisibility();
        const delivery = await source.poll();
        if (delivery.messages.length === 0) break;
        deliveries++;
        expect(
          delivery.kept.length === 1,
          `redelivery ${deliveries} was not turned away: ${JSON.stringify(delivery.invocation)}`,
        );
        if (deliveries > redrive.maxReceiveCount)
          throw new Error("the message was never dead-lettered");
      }
      expect(
        deliveries === redrive.maxReceiveCount,
        `dead-lettered after ${deliveries} deliveries, not the redrive policy's ${redrive.maxReceiveCount}`,
      );
      expect(simulator.stats().total === upstreamBefore, "an early redelivery called ev.energy");
      const dead = await deadLetters.poll();
      expect(dead.messages.length === 1, `the dead-letter queue delivered ${dead.messages.length}`);
      expect(
        dead.invocation?.error === undefined && dead.deleted.length === 1,
        `dead-letter function: ${JSON.stringify(dead.invocation)}`,
      );
      const request = await getRequest(world, world.need(world.requests.retried, "request"));
      expect(request.status === "FAILED", `the request is ${request.status}`);
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const types = events.map((event) => event["detail-type"]);
      expect(types.includes("EVSE Decommission Failed"), `the subscriber got ${countBy(types)}`);
      return [
        `${deliveries} deliveries (maxReceiveCount ${redrive.maxReceiveCount}), each turned away before its next attempt is due, no ev.energy call`,
        `SQS moved the message to the dead-letter queue; the dead-letter function → ${JSON.stringify(dead.invocation?.result)}`,
        `request FAILED; subscriber received ${countBy(types)}`,
      ];
    },
  },
  {
    title: "Scheduler runs the reconciler with its schedule's input",
    async run(world) {
      const run = await fireSchedule(
        world.need(world.moto, "moto"),
        world.need(world.deployment, "deployment").stateless,
        world.fn("reconciler"),
        world.need(world.policies, "policies"),
      );
      expect(run.invocation.error === undefined, `reconciler failed: ${failure(run.invocation)}`);
      return [
        `input ${JSON.stringify(run.input)}`,
        `summary ${JSON.stringify(run.invocation.result)}`,
      ];
    },
  },
  {
    title: "a replay of the archive reaches subscribers, never the executor's queue",
    async run(world) {
      const moto = world.need(world.moto, "moto");
      const { busName, archiveName, eventSource } = world.deployed();
      // Without the executor rule's replay-name condition: shows the replay holds executions.
      const control = await subscribe(world, busName, "rehearsal-executions-seen", {
        source: [eventSource],
        "detail-type": [EXECUTION_REQUESTED_DETAIL_TYPE],
      });
      const events = new EventBridgeClient(moto.clientConfig);
      await events.send(
        new StartReplayCommand({
          ReplayName: `rehearsal-${Date.now()}`,
          EventSourceArn: `arn:aws:events:${EMULATED.region}:${account}:archive/${archiveName}`,
          EventStartTime: new Date(world.startedAt.getTime() - 60_000),
          EventEndTime: new Date(Date.now() + 60_000),
          Destination: { Arn: `arn:aws:events:${EMULATED.region}:${account}:event-bus/${busName}` },
        }),
      );
      const executions = await drain(world, control);
      const replayed = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const depth = await world.need(world.executionSource, "execution queue").depth();
      expect(executions.length === 2, `${executions.length} execution requests replayed, not 2`);
      expect(replayed.length > 0, "the subscriber got no replayed event");
      expect(
        depth.visible === 0 && depth.inFlight === 0,
        `the executor's queue got ${JSON.stringify(depth)}`,
      );
      return [
        `replay of ${archiveName}: subscriber received ${replayed.length} events again; ${executions.length} × ${EXECUTION_REQUESTED_DETAIL_TYPE} replayed`,
        "executor's queue: empty (its rule requires replay-name to be absent)",
      ];
    },
  },
  {
    title: "forbidden calls are denied",
    async run(world) {
      const recorder = world.need(world.recorder, "recorder");
      world.flowCalls = [...recorder.calls];
      const as = (role: FunctionRole) => {
        const { caller } = world.fn(role).fn;
        return {
          endpoint: recorder.endpoint,
          region: EMULATED.region,
          credentials: credentials(caller),
        };
      };
      const deployed = world.deployed();
      const probes: Array<[string, () => Promise<unknown>]> = [
        [
          "the poll sends an execution request",
          () =>
            new EventBridgeClient(as("poll")).send(
              new PutEventsCommand({
                Entries: [
                  {
                    EventBusName: deployed.busName,
                    Source: deployed.eventSource,
                    DetailType: EXECUTION_REQUESTED_DETAIL_TYPE,
                    Detail: JSON.stringify({ requestId: "dcr_FORGED", token: "forged" }),
                  },
                ],
              }),
            ),
        ],
        [
          "the poll writes a decommission request",
          () =>
            new DynamoDBClient(as("poll")).send(
              new PutItemCommand({
                TableName: deployed.tableName,
                Item: { pk: { S: "DCR" }, sk: { S: "dcr_FORGED" }, status: { S: "APPROVED" } },
              }),
            ),
        ],
        [
          "the API reads the write secret",
          () =>
            new SecretsManagerClient(as("api")).send(
              new GetSecretValueCommand({ SecretId: deployed.writeSecretArn }),
            ),
        ],
        [
          "the executor signs an approval",
          () =>
            new KMSClient(as("executor")).send(
              new GenerateMacCommand({
                KeyId: deployed.approvalKeyArn,
                MacAlgorithm: "HMAC_SHA_256",
                Message: Buffer.from("forged approval"),
              }),
            ),
        ],
      ];
      const lines: string[] = [];
      for (const [what, probe] of probes) {
        const from = recorder.calls.length;
        const errorName = await probe().then(
          () => "none",
          (error: unknown) => (error instanceof Error ? error.name : String(error)),
        );
        const call = recorder.calls[from];
        world.probes.push({ what, errorName, ...(call === undefined ? {} : { call }) });
        expect(errorName === "AccessDeniedException", `${what}: answered ${errorName}`);
        expect(
          call !== undefined && call.decision !== "Allowed",
          `${what}: not denied by the policies`,
        );
        lines.push(`${what}: ${call?.requests[0]?.action} → ${call?.decision}`);
      }
      return lines;
    },
  },
  {
    title: "every AWS call the functions made, checked against the deployed policies",
    always: true,
    async run(world) {
      const calls = world.flowCalls ?? world.recorder?.calls ?? [];
      const bad = calls.filter((call) => call.decision !== "Allowed" || call.problems.length > 0);
      const byFunction = new Map<string, string[]>();
      for (const call of calls) {
        const key = roleOf(world, call.caller);
        byFunction.set(key, [...(byFunction.get(key) ?? []), `${call.service}:${call.operation}`]);
      }
      const lines = [...byFunction].map(([role, actions]) => `${role}: ${countBy(actions)}`);
      for (const call of bad.slice(0, 10)) {
        const asked = call.requests.map((request) => {
          const keys = Object.entries(request.context).filter(
            ([key]) => !key.startsWith("aws:") && !key.startsWith("lambda:"),
          );
          return `${request.action} on ${request.resource} ${JSON.stringify(Object.fromEntries(keys))}`;
        });
        lines.push(
          `✗ ${roleOf(world, call.caller)}: ${asked.join("; ") || `${call.service}:${call.operation}`} → ${call.decision}${call.problems.length > 0 ? ` (${call.problems.join("; ")})` : ""}`,
        );
      }
      expect(calls.length > 0, "no call was recorded");
      if (bad.length > 0) {
        throw new Error(
          [`${bad.length} of ${calls.length} calls are not allowed as made`, ...lines].join("\n"),
        );
      }
      lines.unshift(`${calls.length} calls, all allowed, every condition key supplied`);
      return lines;
    },
  },
];

/** The flow's name for a function (`poll`, `executor`, …), from its deployed name. */
function roleOf(world: World, functionName: string): string {
  const found = [...world.named].find(([, environment]) => environment.fn.name === functionName);
  return found?.[0] ?? functionName;
}

function credentials(caller: Caller) {
  return {
    accessKeyId: caller.accessKeyId,
    secretAccessKey: caller.secretAccessKey,
    sessionToken: caller.sessionToken,
  };
}

/** A consumer's rule on the bus, targeting a new queue of the rehearsal's. */
async function subscribe(
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
