/**
 * Signed approvals. The API, after checking who approves, signs what was approved with a
 * MAC key only it may use for signing (KMS GenerateMac on AWS); the executor, which alone may
 * verify, checks the signature and the request's own history before any DELETE. A request item
 * written by anything but the API (a forged APPROVED, a changed EVSE id, a replayed approval
 * with another requester) cannot carry a valid signature, so it never reaches ev.energy.
 */
import type { DecommissionRequest } from "./model.js";
import { type Principal, personOf, samePerson } from "./principal.js";

/** Signs approvals (the API's side of the key). */
export interface ApprovalSigner {
  /** A MAC over `message`, base64. */
  sign(message: string): Promise<string>;
}

/** Verifies approvals (the executor's side of the key). */
export interface ApprovalVerifier {
  /** Whether `mac` is this key's MAC over `message`; false (never a throw) when it is not. */
  verify(message: string, mac: string): Promise<boolean>;
}

/** What an approval vouches for. */
export interface ApprovalClaims {
  requestId: string;
  evseId: string;
  cpid: string | null;
  requestedBy: Principal;
  approvedBy: Principal;
  approvedAt: string;
  expiresAt: string;
  force: boolean;
}

/**
 * The signed text: every claim, in a fixed order, as one JSON array with a version tag, so no
 * two different approvals share a text.
 */
export function approvalMessage(claims: ApprovalClaims): string {
  return JSON.stringify([
    "evse-ops decommission approval v1",
    claims.requestId,
    claims.evseId,
    claims.cpid,
    claims.requestedBy.arn,
    claims.approvedBy.arn,
    claims.approvedAt,
    claims.expiresAt,
    claims.force,
  ]);
}

/** History actions after which an approval no longer stands. */
const ENDING_ACTIONS = new Set(["rejected", "cancelled", "expired", "completed", "failed"]);

/**
 * Why the request's approval cannot be trusted, or undefined when it can:
 * 1. an approver, a time and a signature are recorded, and the approver is a session of a role
 *    (the only kind of caller the API accepts as an approver) naming another person than the
 *    requester, approving before the request's expiry;
 * 2. the history holds exactly one approval, by that approver at that time, and no rejection,
 *    cancellation, expiry or ending;
 * 3. the signature verifies over the claims as the request now states them.
 */
export async function approvalViolation(
  request: DecommissionRequest,
  verifier: ApprovalVerifier,
): Promise<string | undefined> {
  const { approvedBy, approvedAt, approvalMac } = request;
  if (approvedBy === null || approvedAt === null || approvalMac === null) {
    return "the request is approved but records no signed approval";
  }
  if (approvedBy.kind !== "assumed-role" || personOf(approvedBy) === undefined) {
    return `the recorded approver ${approvedBy.arn} is not a role session`;
  }
  if (samePerson(approvedBy, request.requestedBy)) {
    return "the recorded approver is the requester";
  }
  if (!(Date.parse(approvedAt) < Date.parse(request.expiresAt))) {
    return `the recorded approval (${approvedAt}) is not before the request's expiry (${request.expiresAt})`;
  }
  const approvals = request.history.filter((entry) => entry.action === "approved");
  const [approval] = approvals;
  if (approvals.length !== 1 || approval?.actor !== approvedBy.arn || approval.at !== approvedAt) {
    return "the history does not show this approval exactly once";
  }
  const ending = request.history.find((entry) => ENDING_ACTIONS.has(entry.action));
  if (ending !== undefined) {
    return `the history shows the request ${ending.action} at ${ending.at}`;
  }
  const message = approvalMessage({ ...request, requestId: request.id, approvedBy, approvedAt });
  if (!(await verifier.verify(message, approvalMac))) {
    return "the approval signature does not verify";
  }
  return undefined;
}
