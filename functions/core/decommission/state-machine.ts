/**
 * Who may move a request from which status to which. The use cases check a caller's action
 * here before writing, and every write is conditional on the same `from` statuses, so a check
 * that raced with another writer fails at the table rather than acting twice.
 *
 * ```
 *                 approve (approver ≠ requester)        start            complete
 * PENDING_APPROVAL ───────────────────────────▶ APPROVED ─────▶ EXECUTING ─────────▶ COMPLETED
 *   │ reject (approver)  → REJECTED                 │  fail        │ retry, send-delete (stays)
 *   │ cancel (requester) → CANCELLED                └──────────────┴──────────────▶ FAILED
 *   │ expire (system, at expiresAt) → EXPIRED
 * ```
 */
import { principalFrom } from "./approval.js";
import { type ApproverPatterns, isApprover } from "./approvers.js";
import {
  InvalidTransition,
  NotAPerson,
  NotApprover,
  NotRequester,
  RequestExpired,
  RequestTampered,
  SelfApproval,
} from "./errors.js";
import type { DecommissionRequest, HistoryAction, Status } from "./model.js";
import { type Principal, personOf, samePerson } from "./principal.js";

export type Action =
  | "approve"
  | "reject"
  | "cancel"
  | "expire"
  | "withdraw"
  | "start"
  | "retry"
  | "send-delete"
  | "complete"
  | "fail"
  | "hold"
  | "re-enqueue";

export type Actor = "approver" | "requester" | "system";

export interface Transition {
  from: readonly Status[];
  /** `null`: the status stays (execution bookkeeping). */
  to: Status | null;
  by: Actor;
  /** The history entry the transition appends. */
  records: HistoryAction;
}

export const TRANSITIONS: Readonly<Record<Action, Transition>> = {
  approve: { from: ["PENDING_APPROVAL"], to: "APPROVED", by: "approver", records: "approved" },
  reject: { from: ["PENDING_APPROVAL"], to: "REJECTED", by: "approver", records: "rejected" },
  cancel: { from: ["PENDING_APPROVAL"], to: "CANCELLED", by: "requester", records: "cancelled" },
  expire: { from: ["PENDING_APPROVAL"], to: "EXPIRED", by: "system", records: "expired" },
  /** A request that found its EVSE held by another open request when it went to take it. */
  withdraw: { from: ["PENDING_APPROVAL"], to: "CANCELLED", by: "system", records: "cancelled" },
  start: {
    from: ["APPROVED", "EXECUTING"],
    to: "EXECUTING",
    by: "system",
    records: "execution-started",
  },
  retry: { from: ["EXECUTING"], to: null, by: "system", records: "attempt-failed" },
  "send-delete": { from: ["EXECUTING"], to: null, by: "system", records: "delete-sent" },
  complete: { from: ["EXECUTING"], to: "COMPLETED", by: "system", records: "completed" },
  fail: { from: ["APPROVED", "EXECUTING"], to: "FAILED", by: "system", records: "failed" },
  hold: { from: ["APPROVED", "EXECUTING"], to: null, by: "system", records: "held" },
  "re-enqueue": {
    from: ["APPROVED", "EXECUTING"],
    to: null,
    by: "system",
    records: "re-enqueued",
  },
};

/** The status after `action` from `status`. */
export function targetOf(action: Action, status: Status): Status {
  return TRANSITIONS[action].to ?? status;
}

export function allows(action: Action, status: Status): boolean {
  return TRANSITIONS[action].from.includes(status);
}

export interface CallerContext {
  approvers: ApproverPatterns;
  now: number;
}

/**
 * The caller as a person, for every action that records who acted.
 * @throws NotAPerson for the account root and a role without a session.
 */
export function requirePerson(caller: Principal): string {
  const person = personOf(caller);
  if (person === undefined) throw new NotAPerson(caller.kind);
  return person;
}

/**
 * Checks a caller's action against the request as read, in the order a caller can act on:
 * 1. who: the caller must name a person; approve and reject need a session of an approver
 *    role (a federated user picks their own name, so never approves), cancel the requester;
 *    an approver must be another person than the requester, whatever role or account (403s);
 * 2. from where: the request must be in a status the action starts from (409);
 * 3. when: a pending request past `expiresAt` can no longer be acted on (409), even before the
 *    reconciler has marked it EXPIRED.
 * @throws the DecommissionRefusal that applies first.
 */
export function checkCallerAction(
  action: "approve" | "reject" | "cancel",
  request: DecommissionRequest,
  caller: Principal,
  context: CallerContext,
): void {
  const transition = TRANSITIONS[action];
  requirePerson(caller);
  // The requester as the signed ARN says, never as fields stored beside it.
  const requester = principalFrom(request.requestedBy.arn);
  if (requester === undefined) throw new RequestTampered(request.id);
  if (transition.by === "approver") {
    if (caller.kind === "federated-user") {
      throw new NotApprover(action, "a federated user chooses their own name");
    }
    if (!isApprover(caller, context.approvers)) throw new NotApprover(action);
    if (action === "approve" && samePerson(caller, requester)) throw new SelfApproval();
  } else if (!samePerson(caller, requester)) {
    throw new NotRequester();
  }
  if (!allows(action, request.status)) {
    throw new InvalidTransition(request.id, action, request.status);
  }
  if (context.now >= Date.parse(request.expiresAt)) {
    throw new RequestExpired(request.id, request.expiresAt);
  }
}
