/**
 * The two-person decommission: request and approval, the execution event through the rule, the
 * DELETE, a retry, the redrive to the dead-letter function, the reconciler, and a replay that
 * never reaches the executor.
 */
import { EventBridgeClient, StartReplayCommand } from "@aws-sdk/client-eventbridge";
import { EXECUTION_REQUESTED_DETAIL_TYPE } from "../../infra/constructs/bus-publishing.js";
import { EMULATED } from "./moto.js";
import {
  account,
  approver,
  type BusEvent,
  callsOf,
  countBy,
  describeAnswer,
  drain,
  expect,
  failure,
  getRequest,
  problemType,
  REQUESTER,
  requestAndApprove,
  requestDecommission,
  runScheduled,
  type Step,
  subscribe,
} from "./world.js";

export const DECOMMISSION_STEPS: readonly Step[] = [
  {
    title: "alice requests a decommission, bob approves (alice may not, nor a non-approver)",
    async run(world) {
      const api = world.need(world.api, "API");
      const evseId = world.need(world.devices.decommissioned, "a device");
      const id = await requestDecommission(world, evseId);
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
      const run = await runScheduled(world, "reconciler");
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
];
