import { afterEach, describe, expect, it } from "vitest";
import { useDynalite } from "../support/dynamo.js";
import { ARNS } from "./fixtures.js";
import { DAY, type DecommissionHarness, startDecommissionHarness } from "./harness.js";

const dynamo = useDynalite();
let harness: DecommissionHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start() {
  harness = await startDecommissionHarness(dynamo);
  const device = harness.devices.find((d) => d.isCharging !== true);
  if (!device) throw new Error("the test fleet has no idle device");
  return { h: harness, evseId: device.evseId };
}

async function pendingRequest(h: DecommissionHarness, evseId: string, as: string = ARNS.requester) {
  const created = await h.create(as, evseId);
  expect(created.status).toBe(201);
  return String(created.body.id);
}

describe("approving a decommission request", () => {
  it("runs request by A, approval by B, one DELETE, COMPLETED, with the full audit trail", async () => {
    const { h, evseId } = await start();
    const created = await h.create(ARNS.requester, evseId);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      evseId,
      status: "PENDING_APPROVAL",
      reason: "site closed",
      requestedBy: {
        account: "111111111111",
        type: "assumed-role",
        name: "requester",
        session: "alice",
      },
      requestedAt: "2026-03-02T08:00:00.000Z",
      expiresAt: "2026-03-09T08:00:00.000Z",
    });
    const device = h.devices.find((d) => d.evseId === evseId);
    expect(created.body.cpid).toBe(device?.cpid);
    const id = String(created.body.id);
    expect(created.headers.Location).toBe(`/local/decommission-requests/${id}`);

    const approved = await h.approve(ARNS.approverBob, id, { comment: "checked with site" });
    expect(approved.status).toBe(202);
    expect(approved.body).toMatchObject({
      status: "APPROVED",
      statusUrl: `/local/decommission-requests/${id}`,
    });
    expect(approved.headers.Location).toBe(`/local/decommission-requests/${id}`);

    await h.run();
    expect(h.sim.stats().deleted).toEqual([evseId]);
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
    const done = await h.get(ARNS.requester, id);
    expect(done.body.status).toBe("COMPLETED");
    const history = done.body.history as Array<{ action: string; actor: string }>;
    expect(history.map((entry) => entry.action)).toEqual([
      "requested",
      "approved",
      "execution-started",
      "delete-sent",
      "completed",
    ]);
    expect(history[1]?.actor).toBe(ARNS.approverBob);
    expect(h.eventTypes()).toEqual([
      "EVSE Decommission Requested",
      "EVSE Decommission Approved",
      "EVSE Decommission Completed",
    ]);
    expect((await h.poll.devices.get(evseId))?.lifecycle).toBe("decommissioned");
    const evse = await h.call("GET", `/evses/${evseId}`, { as: ARNS.requester });
    expect(evse.body).toMatchObject({
      lifecycle: "decommissioned",
      openDecommissionRequestId: null,
    });
    const listed = await h.call("GET", "/evses", { as: ARNS.requester, query: [["limit", "100"]] });
    expect((listed.body.items as Array<{ evseId: string }>).map((d) => d.evseId)).not.toContain(
      evseId,
    );
  });

  it("refuses self-approval by the same person through any role, ARN form or case, and lets another person approve", async () => {
    const { h } = await start();
    const [a, b] = h.devices.filter((d) => d.isCharging !== true).map((d) => d.evseId);
    if (!a || !b) throw new Error("too few idle devices");
    // alice requests through the requester role, then approves through the approver role.
    const byRole = await pendingRequest(h, a, ARNS.requester);
    // alice requests as an IAM user, then approves through the approver role.
    const byUser = await pendingRequest(h, b, "arn:aws:iam::111111111111:user/people/alice");
    for (const id of [byRole, byUser]) {
      for (const self of [
        ARNS.approverAlice,
        "arn:aws:sts::111111111111:assumed-role/Approver/ALICE",
      ]) {
        const answer = await h.approve(self, id);
        expect(answer.status).toBe(403);
        expect(answer.headers["Content-Type"]).toBe("application/problem+json");
        expect(answer.body).toMatchObject({
          type: "urn:evse-ops:problem:self-approval",
          status: 403,
        });
      }
      expect((await h.get(ARNS.requester, id)).body.status).toBe("PENDING_APPROVAL");
      expect((await h.approve(ARNS.approverCarol, id)).status).toBe(202);
    }
  });

  it("refuses every caller that is not a session of an approver role, or names no person", async () => {
    const { h, evseId } = await start();
    const id = await pendingRequest(h, evseId);
    for (const [caller, type] of [
      [ARNS.requesterOtherSession, "not-approver"],
      ["arn:aws:iam::111111111111:user/approver", "not-approver"],
      // A role of the same name in another account is not the approver role.
      ["arn:aws:sts::222222222222:assumed-role/approver/dave", "not-approver"],
      // A federated user picks their own name: never an approver.
      ["arn:aws:sts::111111111111:federated-user/dave", "not-approver"],
      [ARNS.requesterRoleIam, "not-a-person"],
      [ARNS.approverRoleIam, "not-a-person"],
      ["arn:aws:iam::111111111111:root", "not-a-person"],
    ] as const) {
      const answer = await h.approve(caller, id);
      expect(answer.status).toBe(403);
      expect(answer.body.type).toBe(`urn:evse-ops:problem:${type}`);
    }
    const history = (await h.get(ARNS.requester, id)).body.history as unknown[];
    expect(history).toHaveLength(1);
  });

  it("refuses requests from callers that name no person, and lets federated users request", async () => {
    const { h } = await start();
    const [a, b] = h.devices.filter((d) => d.isCharging !== true).map((d) => d.evseId);
    if (!a || !b) throw new Error("too few idle devices");
    for (const caller of [ARNS.requesterRoleIam, "arn:aws:iam::111111111111:root"]) {
      const answer = await h.create(caller, a);
      expect(answer.status).toBe(403);
      expect(answer.body.type).toBe("urn:evse-ops:problem:not-a-person");
    }
    const federated = await h.create("arn:aws:sts::111111111111:federated-user/erin", b);
    expect(federated.status).toBe(201);
    expect((await h.approve(ARNS.approverBob, String(federated.body.id))).status).toBe(202);
  });

  it("answers 409 to an approval after expiry, rejection or cancellation", async () => {
    const { h } = await start();
    const [a, b, c] = h.devices.filter((d) => d.isCharging !== true).map((d) => d.evseId);
    if (!a || !b || !c) throw new Error("too few idle devices");

    const expiring = await pendingRequest(h, a);
    const rejected = await pendingRequest(h, b);
    const cancelled = await pendingRequest(h, c);
    const reject = await h.call("POST", `/decommission-requests/${rejected}/reject`, {
      as: ARNS.approverBob,
      body: { reason: "device still in use" },
    });
    expect(reject.status).toBe(200);
    expect(reject.body).toMatchObject({
      status: "REJECTED",
      outcome: "rejected: device still in use",
    });
    const cancel = await h.call("POST", `/decommission-requests/${cancelled}/cancel`, {
      as: ARNS.requester,
    });
    expect(cancel.status).toBe(200);

    expect((await h.approve(ARNS.approverBob, rejected)).body).toMatchObject({
      status: 409,
      type: "urn:evse-ops:problem:invalid-transition",
      requestStatus: "REJECTED",
    });
    expect((await h.approve(ARNS.approverBob, cancelled)).status).toBe(409);

    h.clock.advance(7 * DAY);
    const late = await h.approve(ARNS.approverBob, expiring);
    expect(late.status).toBe(409);
    expect(late.body.type).toBe("urn:evse-ops:problem:request-expired");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBeUndefined();
  });

  it("only lets the requester cancel, and only approvers reject", async () => {
    const { h, evseId } = await start();
    const id = await pendingRequest(h, evseId);
    const byOther = await h.call("POST", `/decommission-requests/${id}/cancel`, {
      as: ARNS.approverBob,
    });
    expect(byOther.status).toBe(403);
    expect(byOther.body.type).toBe("urn:evse-ops:problem:not-requester");
    const rejectByRequester = await h.call("POST", `/decommission-requests/${id}/reject`, {
      as: ARNS.requester,
      body: { reason: "changed my mind" },
    });
    expect(rejectByRequester.status).toBe(403);
    expect((await h.get(ARNS.requester, id)).body.status).toBe("PENDING_APPROVAL");
  });

  it("refuses to approve a device last seen charging unless forced", async () => {
    const { h, evseId } = await start();
    h.sim.fleet.update(evseId, {
      status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7000 },
    });
    h.clock.advance(60_000);
    await h.poll.poll();
    expect((await h.poll.devices.get(evseId))?.isCharging).toBe(true);
    const id = await pendingRequest(h, evseId);

    const refused = await h.approve(ARNS.approverBob, id);
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe("urn:evse-ops:problem:device-charging");
    expect((await h.get(ARNS.requester, id)).body.status).toBe("PENDING_APPROVAL");

    const forced = await h.approve(ARNS.approverBob, id, { force: true });
    expect(forced.status).toBe(202);
    expect(forced.body.force).toBe(true);
    await h.run();
    expect((await h.get(ARNS.requester, id)).body.status).toBe("COMPLETED");
  });

  it("turns 100 concurrent approvals into one approval, one DELETE and one event", async () => {
    const { h, evseId } = await start();
    const id = await pendingRequest(h, evseId);
    const approvers = Array.from(
      { length: 100 },
      (_, i) => `arn:aws:sts::111111111111:assumed-role/approver/person-${i}`,
    );
    const answers = await Promise.all(approvers.map((arn) => h.approve(arn, id)));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(99);
    expect(h.queue.sent).toHaveLength(1);
    await h.run();
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
    expect(h.eventTypes().filter((type) => type === "EVSE Decommission Approved")).toHaveLength(1);
    expect((await h.get(ARNS.requester, id)).body.status).toBe("COMPLETED");
  });

  it("turns 100 concurrent creations with one Idempotency-Key into one request", async () => {
    const { h, evseId } = await start();
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        h.call("POST", "/decommission-requests", {
          as: ARNS.requester,
          body: { evseId, reason: "site closed" },
          headers: [["Idempotency-Key", "one-key"]],
        }),
      ),
    );
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 201 || a.status === 409)).toBe(true);
    expect(new Set(created.map((a) => a.body.id)).size).toBe(1);
    const listed = await h.call("GET", "/decommission-requests", { as: ARNS.requester });
    expect(listed.body.items).toHaveLength(1);

    // Once it completed, a retry replays the same answer; another body is a 422.
    const retry = await h.call("POST", "/decommission-requests", {
      as: ARNS.requester,
      body: { reason: "site closed", evseId },
      headers: [["Idempotency-Key", "one-key"]],
    });
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(created[0]?.body);
    expect(retry.headers["Idempotent-Replayed"]).toBe("true");
    const other = await h.call("POST", "/decommission-requests", {
      as: ARNS.requester,
      body: { evseId, reason: "another reason" },
      headers: [["Idempotency-Key", "one-key"]],
    });
    expect(other.status).toBe(422);
    // The key belongs to its caller: another person's same key is theirs.
    const someoneElse = await h.call("POST", "/decommission-requests", {
      as: ARNS.requesterOtherSession,
      body: { evseId, reason: "site closed" },
      headers: [["Idempotency-Key", "one-key"]],
    });
    expect(someoneElse.status).toBe(409);
    expect(someoneElse.body).toMatchObject({
      type: "urn:evse-ops:problem:open-request-exists",
      openRequestId: created[0]?.body.id,
    });

    const id = String(created[0]?.body.id);
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    await h.run();
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
  });

  it("answers 404 for an EVSE the poll never saw and for unknown request ids", async () => {
    const { h } = await start();
    const unknown = await h.create(ARNS.requester, "evse01JZZZZZZZZZZZZZZZZZZZZZZZ");
    expect(unknown.status).toBe(404);
    expect(unknown.body.type).toBe("urn:evse-ops:problem:evse-not-found");
    expect((await h.get(ARNS.requester, "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ")).status).toBe(404);
    expect((await h.get(ARNS.requester, "nonsense")).status).toBe(404);
    expect((await h.approve(ARNS.approverBob, "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ")).status).toBe(404);
    // The refused creation kept nothing: the same key works for a valid request.
    const listed = await h.call("GET", "/decommission-requests", { as: ARNS.requester });
    expect(listed.body.items).toEqual([]);
  });
});
