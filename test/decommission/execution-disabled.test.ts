/**
 * A stage whose decommission execution is off (`decommission.executor.enabled` false, dev's
 * committed setting): requests and approvals work, nothing reaches ev.energy, and the API's
 * answers, the request's history and the events say why.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { EXECUTION_DISABLED } from "../../functions/core/decommission/model.js";
import { useDynalite } from "../support/dynamo.js";
import { ARNS } from "./fixtures.js";
import { type DecommissionHarness, startDecommissionHarness } from "./harness.js";

const dynamo = useDynalite();
let harness: DecommissionHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Every request the simulated ev.energy has answered so far (token exchanges included). */
const upstreamRequests = (h: DecommissionHarness) =>
  Object.values(h.sim.stats().requests).reduce((sum, n) => sum + (n ?? 0), 0);

async function approvedWhileDisabled() {
  harness = await startDecommissionHarness(dynamo, { executionEnabled: false });
  const h = harness;
  const device = h.devices.find((d) => d.isCharging !== true);
  if (!device) throw new Error("no idle device");
  const before = upstreamRequests(h);
  const created = await h.create(ARNS.requester, device.evseId);
  expect(created.status).toBe(201);
  expect(created.body.execution).toMatchObject({ enabled: false });
  const id = String(created.body.id);
  const approval = await h.approve(ARNS.approverBob, id, { comment: "confirmed with the site" });
  return { h, id, evseId: device.evseId, before, approval };
}

describe("with decommission execution off in the stage", () => {
  it("approves, then fails the request without a DELETE, and says so in the answer, the history and the events", async () => {
    const { h, id, before, approval } = await approvedWhileDisabled();

    expect(approval.status).toBe(202);
    expect(approval.body).toMatchObject({ status: "APPROVED", execution: { enabled: false } });
    const history = approval.body.history as Array<{ action: string; detail?: string }>;
    expect(history.at(-1)).toMatchObject({
      action: "approved",
      detail: `confirmed with the site; ${EXECUTION_DISABLED.approval}`,
    });

    await h.run();

    const ended = await h.get(ARNS.requester, id);
    expect(ended.body).toMatchObject({
      status: "FAILED",
      outcome: `${EXECUTION_DISABLED.outcome}; nothing was deleted`,
      execution: { enabled: false, attempts: 0, deleteSent: false },
    });
    // Nothing at all reached ev.energy: no pre-flight read, no token exchange, no DELETE.
    expect(upstreamRequests(h)).toBe(before);
    expect(h.sim.stats().deleted).toEqual([]);
    const events = h.publisher.events.filter((event) => event.requestId === id);
    expect(events.map((event) => [event.type, event.detail])).toEqual([
      ["EVSE Decommission Requested", "site closed"],
      ["EVSE Decommission Approved", `confirmed with the site; ${EXECUTION_DISABLED.approval}`],
      ["EVSE Decommission Failed", `${EXECUTION_DISABLED.outcome}; nothing was deleted`],
    ]);
    // The EVSE is free again: a new request may be opened (and fails the same way).
    const device = (await h.store.get(id))?.evseId ?? "";
    expect((await h.create(ARNS.requester, device)).status).toBe(201);
  });

  it("still refuses a tampered approval as an integrity violation, without calling ev.energy", async () => {
    const { h, id, before } = await approvedWhileDisabled();
    await dynamo.documents.send(
      new UpdateCommand({
        TableName: h.poll.tableName,
        Key: { pk: "DCR", sk: id },
        UpdateExpression: "SET approvalMac = :mac",
        ExpressionAttributeValues: { ":mac": Buffer.from("forged").toString("base64") },
      }),
    );

    const verdicts = [];
    for (const message of h.queue.sent) {
      verdicts.push(await h.executor.execute(message, 1));
    }

    expect(verdicts).toEqual([
      expect.objectContaining({ kind: "done", outcome: "failed", integrityViolation: true }),
    ]);
    expect((await h.store.get(id))?.outcome).toMatch(/^integrity violation: /);
    expect(upstreamRequests(h)).toBe(before);
  });

  it("leaves a request whose DELETE an enabled executor had already sent for an enabled one to settle", async () => {
    const { h, id, before } = await approvedWhileDisabled();
    await dynamo.documents.send(
      new UpdateCommand({
        TableName: h.poll.tableName,
        Key: { pk: "DCR", sk: id },
        UpdateExpression: "SET execution.deleteSent = :sent",
        ExpressionAttributeValues: { ":sent": true },
      }),
    );
    const [message] = h.queue.sent;
    if (!message) throw new Error("nothing queued");

    expect(await h.executor.execute(message, 1)).toMatchObject({
      kind: "done",
      outcome: "skipped",
    });
    expect((await h.store.get(id))?.status).toBe("APPROVED");
    expect(upstreamRequests(h)).toBe(before);
  });

  it("marks its failures as deliberate, so they are counted apart from real failures", async () => {
    const { h } = await approvedWhileDisabled();
    const [message] = h.queue.sent;
    if (!message) throw new Error("nothing queued");

    expect(await h.executor.execute(message, 1)).toEqual({
      kind: "done",
      outcome: "failed",
      note: EXECUTION_DISABLED.outcome,
      executionDisabled: true,
    });
  });
});

describe("with decommission execution on (prod's committed setting)", () => {
  it("says so in its answers and carries out the approval", async () => {
    harness = await startDecommissionHarness(dynamo, { executionEnabled: true });
    const h = harness;
    const device = h.devices.find((d) => d.isCharging !== true);
    if (!device) throw new Error("no idle device");
    const id = String((await h.create(ARNS.requester, device.evseId)).body.id);
    const approval = await h.approve(ARNS.approverBob, id);
    expect(approval.body).toMatchObject({ execution: { enabled: true } });
    const history = approval.body.history as Array<{ detail?: string }>;
    expect(history.at(-1)?.detail ?? "").not.toContain("disabled");

    await h.run();

    expect((await h.get(ARNS.requester, id)).body).toMatchObject({ status: "COMPLETED" });
    expect(h.sim.stats().deleted).toEqual([device.evseId]);
  });
});
