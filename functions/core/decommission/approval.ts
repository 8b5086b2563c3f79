/**
 * Signed requests and approvals. The API signs, with a MAC key only it may use for signing
 * (KMS GenerateMac on AWS):
 * - each request when it creates it (who asked, for which EVSE and cpid, when, until when), and
 *   checks that signature again before approving, so a request item edited after creation
 *   (another requester, another EVSE) is never approved;
 * - each approval (the request's claims, who approved, when, and until when it may be
 *   executed). The executor, which alone may verify, checks that signature and the request's
 *   own history before any DELETE.
 * A request item written by anything but the API cannot carry valid signatures, so it never
 * reaches ev.energy. People are compared by the ARNs the signatures cover, never by fields
 * stored beside them.
 */
import { timingSafeEqual } from "node:crypto";
import type { DecommissionRequest } from "./model.js";
import {
  InvalidPrincipal,
  type Principal,
  parsePrincipal,
  personOf,
  samePerson,
} from "./principal.js";

/** Signs requests and approvals (the API's side of the key). */
export interface ApprovalSigner {
  /** A MAC over `message`, base64. The same message always gives the same MAC. */
  sign(message: string): Promise<string>;
}

/** Verifies approvals (the executor's side of the key). */
export interface ApprovalVerifier {
  /** Whether `mac` is this key's MAC over `message`; false (never a throw) when it is not. */
  verify(message: string, mac: string): Promise<boolean>;
}

/** What the API vouches for when it creates a request. */
export type RequestClaims = Pick<
  DecommissionRequest,
  "id" | "evseId" | "cpid" | "requestedBy" | "requestedAt" | "expiresAt"
>;

/** What an approval vouches for: the request's claims and the decision. */
export interface ApprovalClaims extends RequestClaims {
  approvedBy: Principal;
  approvedAt: string;
  /** No DELETE may be sent for this approval from then on. */
  executableUntil: string;
  force: boolean;
}

/** A request's claims in a fixed order: the part both signed texts share. */
function requestClaims(claims: RequestClaims) {
  return [
    claims.id,
    claims.evseId,
    claims.cpid,
    claims.requestedBy.arn,
    claims.requestedAt,
    claims.expiresAt,
  ];
}

/** The signed text of a request, with a version tag. */
export function requestMessage(claims: RequestClaims): string {
  return JSON.stringify(["evse-ops decommission request v1", ...requestClaims(claims)]);
}

/** The signed text of an approval: every claim in a fixed order, with a version tag. */
export function approvalMessage(claims: ApprovalClaims): string {
  return JSON.stringify([
    "evse-ops decommission approval v2",
    ...requestClaims(claims),
    claims.approvedBy.arn,
    claims.approvedAt,
    claims.executableUntil,
    claims.force,
  ]);
}

/** Whether two base64 MACs are the same, in time that does not depend on where they differ. */
export function sameMac(a: string, b: string): boolean {
  const first = Buffer.from(a, "base64");
  const second = Buffer.from(b, "base64");
  return first.length === second.length && first.length > 0 && timingSafeEqual(first, second);
}

/**
 * Whether the stored request is the one the API created: its signature matches its claims.
 * Requests stored before requests were signed have none and never match.
 */
export async function isSignedRequest(
  request: DecommissionRequest,
  signer: ApprovalSigner,
): Promise<boolean> {
  if (request.requestMac === null) return false;
  return sameMac(await signer.sign(requestMessage(request)), request.requestMac);
}

/** History actions after which an approval no longer stands. */
const ENDING_ACTIONS = new Set(["rejected", "cancelled", "expired", "completed", "failed"]);

/**
 * Why the request's approval cannot be trusted, or undefined when it can:
 * 1. an approver, a time, a window and a signature are recorded, and the approver (read from
 *    the signed ARN) is a session of a role naming another person than the requester,
 *    approving before the request's expiry;
 * 2. the history holds exactly one approval, by that approver at that time, and no rejection,
 *    cancellation, expiry or ending;
 * 3. the signature verifies over the claims as the request now states them.
 * Whether the window is still open is the executor's to check at the moment it sends.
 */
export async function approvalViolation(
  request: DecommissionRequest,
  verifier: ApprovalVerifier,
): Promise<string | undefined> {
  const { approvedBy, approvedAt, executableUntil, approvalMac } = request;
  if (
    approvedBy === null ||
    approvedAt === null ||
    executableUntil === null ||
    approvalMac === null
  ) {
    return "the request is approved but records no signed approval";
  }
  const approver = principalFrom(approvedBy.arn);
  const requester = principalFrom(request.requestedBy.arn);
  if (approver === undefined || requester === undefined) {
    return "the recorded requester or approver is not a caller ARN";
  }
  if (approver.kind !== "assumed-role" || personOf(approver) === undefined) {
    return `the recorded approver ${approver.arn} is not a role session`;
  }
  if (samePerson(approver, requester)) return "the recorded approver is the requester";
  if (!(Date.parse(approvedAt) < Date.parse(request.expiresAt))) {
    return `the recorded approval (${approvedAt}) is not before the request's expiry (${request.expiresAt})`;
  }
  const approvals = request.history.filter((entry) => entry.action === "approved");
  const [approval] = approvals;
  if (approvals.length !== 1 || approval?.actor !== approver.arn || approval.at !== approvedAt) {
    return "the history does not show this approval exactly once";
  }
  const ending = request.history.find((entry) => ENDING_ACTIONS.has(entry.action));
  if (ending !== undefined) {
    return `the history shows the request ${ending.action} at ${ending.at}`;
  }
  const message = approvalMessage({
    ...request,
    approvedBy: approver,
    approvedAt,
    executableUntil,
  });
  if (!(await verifier.verify(message, approvalMac))) {
    return "the approval signature does not verify";
  }
  return undefined;
}

/** A stored caller, re-read from its ARN (the signed part); undefined when it is none. */
export function principalFrom(arn: string): Principal | undefined {
  try {
    return parsePrincipal(arn);
  } catch (error) {
    if (error instanceof InvalidPrincipal) return undefined;
    throw error;
  }
}
