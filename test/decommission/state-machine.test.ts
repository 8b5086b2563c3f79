import { describe, expect, it } from "vitest";
import { compileApproverPatterns } from "../../functions/core/decommission/approvers.js";
import {
  InvalidTransition,
  NotApprover,
  NotRequester,
  RequestExpired,
  SelfApproval,
} from "../../functions/core/decommission/errors.js";
import { eventsSince, STATUSES, type Status } from "../../functions/core/decommission/model.js";
import { parsePrincipal } from "../../functions/core/decommission/principal.js";
import {
  allows,
  checkCallerAction,
  TRANSITIONS,
  targetOf,
} from "../../functions/core/decommission/state-machine.js";
import { ARNS, aRequest, SANDBOX_APPROVERS } from "./fixtures.js";

const approvers = compileApproverPatterns(SANDBOX_APPROVERS);
const now = Date.parse("2026-03-02T09:00:00.000Z");
const context = { approvers, now };

describe("the decommission state machine", () => {
  it("lets only pending requests be approved, rejected, cancelled or expired", () => {
    for (const action of ["approve", "reject", "cancel", "expire"] as const) {
      expect(STATUSES.filter((status) => allows(action, status))).toEqual(["PENDING_APPROVAL"]);
    }
  });

  it("never leaves a terminal status", () => {
    const terminal: Status[] = ["COMPLETED", "FAILED", "REJECTED", "CANCELLED", "EXPIRED"];
    for (const transition of Object.values(TRANSITIONS)) {
      for (const status of terminal) expect(transition.from).not.toContain(status);
    }
  });

  it("executes only approved requests, completing from EXECUTING", () => {
    expect(targetOf("start", "APPROVED")).toBe("EXECUTING");
    expect(allows("complete", "APPROVED")).toBe(false);
    expect(allows("complete", "EXECUTING")).toBe(true);
    expect(allows("fail", "APPROVED")).toBe(true);
    expect(targetOf("retry", "EXECUTING")).toBe("EXECUTING");
    expect(targetOf("hold", "APPROVED")).toBe("APPROVED");
  });

  it("checks who before where before when", () => {
    const pending = aRequest();
    const requester = parsePrincipal(ARNS.requester);
    const bob = parsePrincipal(ARNS.approverBob);
    expect(() => checkCallerAction("approve", pending, requester, context)).toThrow(NotApprover);
    expect(() => checkCallerAction("approve", pending, bob, context)).not.toThrow();
    expect(() => checkCallerAction("reject", pending, requester, context)).toThrow(NotApprover);
    expect(() => checkCallerAction("cancel", pending, bob, context)).toThrow(NotRequester);
    expect(() => checkCallerAction("cancel", pending, requester, context)).not.toThrow();

    const own = aRequest({ requestedBy: bob });
    expect(() => checkCallerAction("approve", own, bob, context)).toThrow(SelfApproval);
    // An approver may reject their own request (it only stops it).
    expect(() => checkCallerAction("reject", own, bob, context)).not.toThrow();

    const done = aRequest({ status: "APPROVED" });
    expect(() => checkCallerAction("approve", done, bob, context)).toThrow(InvalidTransition);
    const late = { approvers, now: Date.parse(pending.expiresAt) };
    expect(() => checkCallerAction("approve", pending, bob, late)).toThrow(RequestExpired);
    expect(() => checkCallerAction("cancel", pending, requester, late)).toThrow(RequestExpired);
  });
});

describe("decommission events", () => {
  it("derive one event per decision from the history, with ids stable across resends", () => {
    const request = aRequest({
      version: 3,
      history: [
        {
          at: "t1",
          actor: ARNS.requester,
          action: "requested",
          from: null,
          to: "PENDING_APPROVAL",
          version: 1,
        },
        {
          at: "t2",
          actor: ARNS.approverBob,
          action: "approved",
          from: "PENDING_APPROVAL",
          to: "APPROVED",
          version: 2,
        },
        {
          at: "t3",
          actor: "system:executor",
          action: "execution-started",
          from: "APPROVED",
          to: "EXECUTING",
          version: 3,
        },
      ],
    });
    const events = eventsSince(request, 0);
    expect(events.map((event) => event.type)).toEqual([
      "EVSE Decommission Requested",
      "EVSE Decommission Approved",
    ]);
    expect(events[1]).toMatchObject({
      requestId: request.id,
      evseId: request.evseId,
      cpid: request.cpid,
      status: "APPROVED",
      previousStatus: "PENDING_APPROVAL",
      actor: ARNS.approverBob,
      detectedAt: "t2",
    });
    expect(eventsSince(request, 1).map((event) => event.eventId)).toEqual([events[1]?.eventId]);
    expect(eventsSince(request, 0)[0]?.eventId).toBe(events[0]?.eventId);
    expect(eventsSince(request, 3)).toEqual([]);
  });
});
