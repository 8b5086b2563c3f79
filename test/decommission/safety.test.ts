/**
 * The decommission flow attacked one way at a time, with the interleaving or the forgery
 * spelled out: each test names the hole it closes (issue: decommission safety, items 4-7).
 */
import { describe, expect, it } from "vitest";
import { problemFor } from "../../functions/api/problems.js";
import type { DecommissionRequest } from "../../functions/core/decommission/model.js";
import { parsePrincipal } from "../../functions/core/decommission/principal.js";
import { approveRequest } from "../../functions/core/decommission/requests.js";
import { MemoryDecommissionStore } from "../support/memory-decommission-store.js";
import { ARNS } from "./fixtures.js";
import {
  APPROVERS,
  EVSES,
  type Gate,
  memoryDevices,
  REQUESTERS,
  SETTINGS,
  World,
  worldStore,
} from "./safety-world.js";

const open: Gate = async () => undefined;
const [EVSE, OTHER_EVSE] = EVSES;
const [ALICE] = REQUESTERS;
const BOB = APPROVERS[1];

/** A gate that stops its caller at the `occurrence`th call of `label` until released. */
function pauseAt(label: string, occurrence = 1) {
  let count = 0;
  let arrive: () => void = () => undefined;
  let leave: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  const released = new Promise<void>((resolve) => {
    leave = resolve;
  });
  const gate: Gate = async (called) => {
    if (called !== label || ++count !== occurrence) return;
    arrive();
    await released;
  };
  return { gate, reached, release: leave };
}

function newWorld() {
  const store = new MemoryDecommissionStore();
  return { world: new World(worldStore(store), memoryDevices()), store };
}

async function requestOf(world: World, id: string): Promise<DecommissionRequest> {
  const request = await world.store.get(id);
  if (request === undefined) throw new Error(`no request ${id}`);
  return request;
}

async function approvedRequest(world: World) {
  const created = await world.create(open, undefined, EVSE, ALICE);
  if (!created) throw new Error("not created");
  const approved = await world.approve(open, undefined, created.id, BOB);
  if (approved?.status !== "APPROVED") throw new Error("not approved");
  const message = world.live.at(-1);
  if (!message) throw new Error("no execution message");
  return { id: created.id, message };
}

describe("an approval racing expiry (item 5)", () => {
  it("keeps the EVSE with the approved request when a new request's expire() loses to the approval", async () => {
    const { world } = newWorld();
    const first = await world.create(open, undefined, EVSE, ALICE);
    if (!first) throw new Error("not created");
    world.clock.advance(SETTINGS.requests.pendingExpiryMs - 1_000);

    // bob checked the request one second before its expiry; his write is still on its way.
    const approval = pauseAt("store.update APPROVED");
    const approving = world.approve(approval.gate, undefined, first.id, BOB);
    await approval.reached;
    world.clock.advance(2_000);
    // A new request for the same EVSE finds the first one past its expiry and expires it.
    const expiry = pauseAt("store.update EXPIRED");
    const creating = world.create(expiry.gate, undefined, EVSE, REQUESTERS[1]);
    await expiry.reached;
    approval.release();
    expect((await approving)?.status).toBe("APPROVED");
    expiry.release();

    expect(await creating).toBeUndefined();
    const requests = await world.store.all();
    const second = requests.find((request) => request.id !== first.id);
    expect(second?.status).toBe("CANCELLED");
    expect(second?.outcome).toMatch(new RegExp(`has open request ${first.id}`));
    expect(await world.store.openRequestFor(EVSE)).toBe(first.id);
    // Withdrawn without a word on the bus: it never opened.
    expect(world.events.filter((event) => event.requestId === second?.id)).toEqual([]);

    await world.settle();
    expect(await world.finalViolations()).toEqual([]);
    expect([...(world.senders.get(EVSE) ?? [])]).toEqual([first.id]);
    expect((await requestOf(world, first.id)).status).toBe("COMPLETED");
  });

  it("refuses the approval when the expiry is written first, and the new request takes the EVSE", async () => {
    const { world } = newWorld();
    const first = await world.create(open, undefined, EVSE, ALICE);
    if (!first) throw new Error("not created");
    world.clock.advance(SETTINGS.requests.pendingExpiryMs - 1_000);
    const approval = pauseAt("store.update APPROVED");
    const approving = world.approve(approval.gate, undefined, first.id, BOB);
    await approval.reached;
    world.clock.advance(2_000);
    const second = await world.create(open, undefined, EVSE, REQUESTERS[1]);
    approval.release();

    expect(await approving).toBeUndefined();
    expect((await requestOf(world, first.id)).status).toBe("EXPIRED");
    expect(second?.status).toBe("PENDING_APPROVAL");
    expect(await world.store.openRequestFor(EVSE)).toBe(second?.id);
  });

  it("writes no approval after the request's expiry, even when the read raced it", async () => {
    const store = new MemoryDecommissionStore();
    const world = new World(worldStore(store), memoryDevices());
    const created = await world.create(open, undefined, EVSE, ALICE);
    if (!created) throw new Error("not created");
    const after = new Date(Date.parse(created.expiresAt) + 1).toISOString();
    expect(
      await store.update(created.id, {
        expectedVersion: created.version,
        allowedFrom: ["PENDING_APPROVAL"],
        status: "APPROVED",
        set: {},
        history: [],
        updatedAt: after,
        unexpiredAt: after,
      }),
    ).toBe("conflict");
  });
});

describe("the dead-letter function and a live executor (item 6)", () => {
  it("waits for the executor's lease instead of failing a request whose DELETE is in flight", async () => {
    const { world } = newWorld();
    const { id, message } = await approvedRequest(world);
    const deleting = pauseAt("ev.energy DELETE");
    const executing = world.deliver(deleting.gate, undefined, message);
    await deleting.reached;

    const outcome = await world.deadLetter(open, undefined, message);
    expect(outcome?.kind).toBe("retry");
    if (outcome?.kind !== "retry") throw new Error("not a retry");
    const request = await requestOf(world, id);
    expect(request.status).toBe("EXECUTING");
    // After the lease, and a second more.
    expect(outcome.delayMs).toBe((request.execution.leaseUntil ?? 0) - world.clock.now() + 1_000);

    deleting.release();
    expect((await executing)?.kind).toBe("done");
    const done = await requestOf(world, id);
    expect(done.status).toBe("COMPLETED");
    expect(world.events.map((event) => event.type)).toContain("EVSE Decommission Completed");
    expect((await world.devices.get(EVSE))?.lifecycle).toBe("decommissioned");

    world.clock.advance(outcome.delayMs);
    expect(await world.handleDead(open, undefined, message)).toEqual({
      kind: "ignored",
      why: "request is COMPLETED",
    });
    expect(await world.finalViolations()).toEqual([]);
  });

  it("leaves a request whose DELETE may have taken effect to be settled, never FAILED", async () => {
    const { world } = newWorld();
    const { id, message } = await approvedRequest(world);
    // The executor dies just after ev.energy applied the DELETE.
    await world.deliver(open, { at: 5, after: true }, message);
    expect(world.present.has(EVSE)).toBe(false);
    world.clock.advance(SETTINGS.executor.leaseMs + 1);

    const outcome = await world.deadLetter(open, undefined, message);
    expect(outcome?.kind).toBe("ignored");
    expect((await requestOf(world, id)).status).toBe("EXECUTING");
    await world.settle();
    expect((await requestOf(world, id)).status).toBe("COMPLETED");
    expect(await world.finalViolations()).toEqual([]);
  });
});

describe("a DELETE whose outcome was unknown (item 7)", () => {
  it("completes when ev.energy answers 404 after a timed-out DELETE and a 429", async () => {
    const { world } = newWorld();
    const { id, message } = await approvedRequest(world);
    // Attempt 1: found, DELETE times out (still on its way at ev.energy).
    world.answers = ["ok", "timeout"];
    expect((await world.deliver(open, undefined, message))?.kind).toBe("retry");
    world.clock.advance(SETTINGS.executor.maxBackoffMs);
    // Attempt 2: still found, the DELETE is refused with a 429.
    world.answers = ["ok", "429"];
    expect((await world.deliver(open, undefined, message))?.kind).toBe("retry");
    // Then the first DELETE lands at ev.energy.
    world.present.delete(EVSE);
    world.deletedBy.set(EVSE, id);
    world.clock.advance(SETTINGS.executor.maxBackoffMs);
    // Attempt 3: the pre-flight read answers 404.
    const verdict = await world.deliver(open, undefined, message);
    expect(verdict).toMatchObject({ kind: "done", outcome: "completed" });
    const done = await requestOf(world, id);
    expect(done.status).toBe("COMPLETED");
    expect(done.outcome).toMatch(
      /404 after a DELETE of an earlier attempt: that DELETE took effect/,
    );
    expect(await world.finalViolations()).toEqual([]);
  });
});

describe("forged and tampered request items (item 4)", () => {
  it.each(["unsigned", "self-approved", "copied-signature"] as const)(
    "refuses a forged APPROVED item (%s) that the reconciler re-sends: FAILED, no DELETE",
    async (variant) => {
      const { world } = newWorld();
      // A legitimate signed approval exists elsewhere, to be copied.
      await approvedRequest(world);
      world.live.length = 0;
      await world.forge(OTHER_EVSE, variant);
      world.live.length = 0;
      // Its message never came: the reconciler finds it overdue and sends one.
      world.clock.advance(SETTINGS.reconciler.staleAfterMs + 1);
      await world.reconcile(open, undefined);
      const message = world.live.find((candidate) => world.forged.has(candidate.requestId));
      if (!message) throw new Error("the reconciler sent nothing for the forged request");
      const verdict = await world.deliver(open, undefined, message);
      expect(verdict).toMatchObject({ kind: "done", outcome: "failed", integrityViolation: true });
      const forged = await requestOf(world, message.requestId);
      expect(forged.status).toBe("FAILED");
      expect(forged.outcome).toMatch(/^integrity violation: .*; nothing was deleted$/);
      expect(world.senders.get(OTHER_EVSE)).toBeUndefined();
      expect(world.present.has(OTHER_EVSE)).toBe(true);
    },
  );

  it("refuses a signed approval whose request was pointed at another EVSE", async () => {
    const { world, store } = newWorld();
    const { id, message } = await approvedRequest(world);
    store.put({ ...(await requestOf(world, id)), evseId: OTHER_EVSE });
    const verdict = await world.deliver(open, undefined, message);
    expect(verdict).toMatchObject({ outcome: "failed", integrityViolation: true });
    expect((await requestOf(world, id)).outcome).toMatch(/signature does not verify/);
    expect(world.senders.size).toBe(0);
  });

  it("checks again right before the DELETE: a swap between the claim and the DELETE is refused", async () => {
    const { world, store } = newWorld();
    const { id, message } = await approvedRequest(world);
    const preflight = pauseAt("ev.energy GET");
    const executing = world.deliver(preflight.gate, undefined, message);
    await preflight.reached;
    // Same version, another EVSE: the executor's next conditional write still succeeds.
    store.put({ ...(await requestOf(world, id)), evseId: OTHER_EVSE });
    preflight.release();
    expect(await executing).toMatchObject({ outcome: "failed", integrityViolation: true });
    expect(world.senders.size).toBe(0);
    expect(world.present.has(OTHER_EVSE)).toBe(true);
  });

  it("refuses an approval whose history shows a later rejection", async () => {
    const { world, store } = newWorld();
    const { id, message } = await approvedRequest(world);
    const request = await requestOf(world, id);
    const rejection = {
      at: request.updatedAt,
      actor: ARNS.approverCarol,
      action: "rejected" as const,
      from: "PENDING_APPROVAL" as const,
      to: "REJECTED" as const,
      version: request.version + 1,
    };
    store.put({ ...request, history: [...request.history, rejection] });
    expect(await world.deliver(open, undefined, message)).toMatchObject({
      outcome: "failed",
      integrityViolation: true,
    });
    expect(world.senders.size).toBe(0);
  });
});

describe("request items edited after creation (review finding)", () => {
  it.each([
    [
      "requestedBy rewritten to a system's session",
      (request: DecommissionRequest) => ({
        ...request,
        requestedBy: parsePrincipal("arn:aws:sts::111111111111:assumed-role/ops-system/job-17"),
      }),
      "request-tampered",
    ],
    [
      "only the stored session changed, the ARN kept",
      (request: DecommissionRequest) => ({
        ...request,
        requestedBy: { ...request.requestedBy, session: "mallory" },
      }),
      "self-approval",
    ],
    [
      "pointed at another EVSE before the approval",
      (request: DecommissionRequest) => ({ ...request, evseId: OTHER_EVSE }),
      "request-tampered",
    ],
  ])("refuses to approve a pending request with %s", async (_what, edit, expected) => {
    const { world, store } = newWorld();
    const created = await world.create(open, undefined, EVSE, ALICE);
    if (!created) throw new Error("not created");
    store.put(edit(await requestOf(world, created.id)));
    const refusal = await approveRefusal(world, created.id, ARNS.approverAlice);
    expect(refusal).toBe(expected);
    expect((await requestOf(world, created.id)).status).toBe("PENDING_APPROVAL");
    expect(world.live).toEqual([]);
  });
});

describe("an ended request set back to APPROVED (review finding)", () => {
  it("sends no DELETE once the approval's window has passed, whatever its status and history say", async () => {
    const { world, store } = newWorld();
    const { id, message } = await approvedRequest(world);
    await world.deadLetter(open, undefined, message);
    const failed = await requestOf(world, id);
    expect(failed.status).toBe("FAILED");
    // Past the window, a writer of request items revives it and cuts the failure from history.
    world.clock.advance(SETTINGS.requests.pendingExpiryMs + 1);
    store.put({
      ...failed,
      status: "APPROVED",
      outcome: null,
      history: failed.history.filter((entry) => entry.action !== "failed"),
      execution: { ...failed.execution, token: null, enqueuedAt: null, attempts: 0 },
    });
    await world.reconcile(open, undefined);
    for (const next of [...world.live]) await world.deliver(open, undefined, next);
    expect(world.senders.size).toBe(0);
    expect(world.present.has(EVSE)).toBe(true);
    expect((await requestOf(world, id)).outcome).toMatch(
      /approval lapsed at .*nothing was deleted/,
    );
  });
});

describe("a permanent error after a DELETE was sent (review finding)", () => {
  it("keeps retrying instead of recording FAILED for a charger ev.energy may have deleted", async () => {
    const { world } = newWorld();
    const { id, message } = await approvedRequest(world);
    // The DELETE is applied but times out; the next pre-flight read is refused (a revoked key).
    world.answers = ["ok", "timeout-applied"];
    expect((await world.deliver(open, undefined, message))?.kind).toBe("retry");
    expect(world.present.has(EVSE)).toBe(false);
    world.clock.advance(SETTINGS.executor.maxBackoffMs);
    world.answers = ["403"];
    expect((await world.deliver(open, undefined, message))?.kind).toBe("retry");
    expect((await requestOf(world, id)).status).toBe("EXECUTING");
    // Once ev.energy answers again, the pre-flight settles it.
    await world.settle();
    expect((await requestOf(world, id)).status).toBe("COMPLETED");
    expect(await world.finalViolations()).toEqual([]);
  });

  it("still fails at once when no DELETE was sent", async () => {
    const { world } = newWorld();
    const { id, message } = await approvedRequest(world);
    world.answers = ["403"];
    expect(await world.deliver(open, undefined, message)).toMatchObject({ outcome: "failed" });
    expect((await requestOf(world, id)).outcome).toMatch(/pre-flight read: .* 403/);
  });
});

/** The refusal's problem slug when `approver` approves `id`, via the API's error mapping. */
async function approveRefusal(world: World, id: string, approver: string) {
  try {
    await approveRequest(
      world.deps(open).requests,
      SETTINGS.requests,
      parsePrincipal(approver),
      id,
      {},
    );
    return "approved";
  } catch (error) {
    const { response } = problemFor(error, "/", "test");
    return String(JSON.parse(response.body).type).replace("urn:evse-ops:problem:", "");
  }
}
