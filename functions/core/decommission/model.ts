/**
 * The decommission request: its statuses, its audit history and the events it publishes.
 * Plain data, stored as one DynamoDB item and answered by the API.
 */
import type { BusEvent } from "../../ports.js";
import { uuidFromText } from "../uuid.js";
import type { Principal } from "./principal.js";

export const STATUSES = [
  "PENDING_APPROVAL",
  "APPROVED",
  "EXECUTING",
  "COMPLETED",
  "FAILED",
  "REJECTED",
  "CANCELLED",
  "EXPIRED",
] as const;
export type Status = (typeof STATUSES)[number];

/** A request in one of these holds its EVSE: no second request may be opened for it. */
export const OPEN_STATUSES = ["PENDING_APPROVAL", "APPROVED", "EXECUTING"] as const;

export function isOpen(status: Status): boolean {
  return (OPEN_STATUSES as readonly Status[]).includes(status);
}

/**
 * What the API and the executor say in a stage whose execution is off
 * (`decommission.executor.enabled` false, the default outside prod): requests and approvals
 * work, no DELETE is ever sent.
 */
export const EXECUTION_DISABLED = {
  /** Added to the approval's history entry (and so to the `Approved` event's detail). */
  approval:
    "decommission execution is disabled in this stage (decommission.executor.enabled is false): this request will fail without a DELETE",
  /** The FAILED outcome the executor records (and the `Failed` event's detail). */
  outcome:
    "decommission execution is disabled in this stage (decommission.executor.enabled is false): nothing was sent to ev.energy",
} as const;

/** The system's own actors, named in history entries like callers are. */
export const SYSTEM_ACTORS = {
  api: "system:api",
  executor: "system:executor",
  reconciler: "system:reconciler",
} as const;

export type HistoryAction =
  | "requested"
  | "approved"
  | "rejected"
  | "cancelled"
  | "expired"
  | "execution-started"
  | "delete-sent"
  | "attempt-failed"
  | "held"
  | "re-enqueued"
  | "completed"
  | "failed";

export interface HistoryEntry {
  at: string;
  /** A caller's ARN or a system actor (`system:executor`, `system:reconciler`). */
  actor: string;
  action: HistoryAction;
  from: Status | null;
  to: Status;
  detail?: string;
  /** The request's version after this entry; events are derived from it. */
  version: number;
}

/** Where the executor stands; kept on the request so any executor can pick it up. */
export interface ExecutionState {
  /**
   * Identifies the live queue message; messages carrying another token are superseded. Null
   * while no message should exist (held by the pause switch): the reconciler sends one.
   */
  token: string | null;
  enqueuedAt: string | null;
  /** Attempts that reached the upstream (pre-flight read and/or DELETE). */
  attempts: number;
  /** No attempt may start before this (backoff and Retry-After). */
  nextAttemptAt: string | null;
  /**
   * A DELETE was sent for this request (recorded before sending, so a crash counts). From
   * then on, ev.energy answering 404 for the EVSE means that DELETE took effect: COMPLETED.
   * Never cleared: what was sent may have been applied.
   */
  deleteSent: boolean;
  leaseOwner: string | null;
  /** Clock ms until which `leaseOwner` alone may call the upstream. */
  leaseUntil: number | null;
  lastError: string | null;
}

export interface DeviceSnapshot {
  cpid: string | null;
  lockMode: string | null;
  isPluggedIn: boolean | null;
  isCharging: boolean | null;
  connectivity: string;
  sampledAt: string | null;
  lastSeenAt: string;
}

export interface DecommissionRequest {
  id: string;
  evseId: string;
  /** The device's cpid when the request was made: the executor deletes only that device. */
  cpid: string | null;
  device: DeviceSnapshot;
  status: Status;
  reason: string;
  externalRef: string | null;
  requestedBy: Principal;
  requestedAt: string;
  /** A pending request expires at this time. */
  expiresAt: string;
  /** The API's signature over the request as created (see approval.ts); checked at approval. */
  requestMac: string | null;
  approvedBy: Principal | null;
  approvedAt: string | null;
  /** No DELETE is sent for this approval from then on (approval time + the pending expiry). */
  executableUntil: string | null;
  /** The API's signature over the approval (see approval.ts); the executor verifies it. */
  approvalMac: string | null;
  /** Approved with `force`: execute even if the device is charging. */
  force: boolean;
  /** Who rejected or cancelled, and why; or why it failed. */
  decidedBy: Principal | null;
  outcome: string | null;
  completedAt: string | null;
  execution: ExecutionState;
  history: HistoryEntry[];
  /** Bumped by every write that changes the request; writes are conditional on it. */
  version: number;
  /** The highest version whose event reached the bus; the reconciler resends the rest. */
  publishedVersion: number;
  updatedAt: string;
}

export const INITIAL_EXECUTION: ExecutionState = {
  token: null,
  enqueuedAt: null,
  attempts: 0,
  nextAttemptAt: null,
  deleteSent: false,
  leaseOwner: null,
  leaseUntil: null,
  lastError: null,
};

/** The lifecycle events on the bus (detail-types); infra grants publishing exactly these. */
export const DECOMMISSION_EVENT_TYPES = [
  "EVSE Decommission Requested",
  "EVSE Decommission Approved",
  "EVSE Decommission Rejected",
  "EVSE Decommission Cancelled",
  "EVSE Decommission Expired",
  "EVSE Decommission Completed",
  "EVSE Decommission Failed",
] as const;
export type DecommissionEventType = (typeof DECOMMISSION_EVENT_TYPES)[number];

/**
 * The internal event a bus rule turns into an execution message on the executor's queue:
 * whoever may put it on the bus may start an execution.
 */
export const EXECUTION_REQUESTED = "EVSE Decommission Execution Requested";

const EVENT_OF: Partial<Record<HistoryAction, DecommissionEventType>> = {
  requested: "EVSE Decommission Requested",
  approved: "EVSE Decommission Approved",
  rejected: "EVSE Decommission Rejected",
  cancelled: "EVSE Decommission Cancelled",
  expired: "EVSE Decommission Expired",
  completed: "EVSE Decommission Completed",
  failed: "EVSE Decommission Failed",
};

/** What the bus carries: `type` is the detail-type, the rest the detail. */
export interface DecommissionEvent extends BusEvent {
  type: DecommissionEventType;
  requestId: string;
  evseId: string;
  cpid: string | null;
  status: Status;
  previousStatus: Status | null;
  actor: string;
  detail: string | null;
  reason: string;
  externalRef: string | null;
  requestedBy: string;
  approvedBy: string | null;
  version: number;
}

/**
 * The events of the history entries after `afterVersion`, in order. The id comes from the
 * request and the entry's version, so a resent event keeps its id and consumers dedupe on it.
 */
export function eventsSince(request: DecommissionRequest, afterVersion: number) {
  const events: DecommissionEvent[] = [];
  for (const entry of request.history) {
    const type = EVENT_OF[entry.action];
    if (type === undefined || entry.version <= afterVersion) continue;
    events.push({
      eventId: uuidFromText(`${request.id}|${entry.version}|${type}`),
      type,
      detectedAt: entry.at,
      requestId: request.id,
      evseId: request.evseId,
      cpid: request.cpid,
      status: entry.to,
      previousStatus: entry.from,
      actor: entry.actor,
      detail: entry.detail ?? null,
      reason: request.reason,
      externalRef: request.externalRef,
      requestedBy: request.requestedBy.arn,
      approvedBy: request.approvedBy?.arn ?? null,
      version: entry.version,
    });
  }
  return events;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** `dcr_` + a ULID: time-ordered, so the table lists requests newest first by key alone. */
export function newRequestId(now: number, randomBytes: Uint8Array): string {
  let time = "";
  let rest = Math.max(0, Math.floor(now));
  for (let i = 0; i < 10; i++) {
    time = (CROCKFORD[rest % 32] ?? "0") + time;
    rest = Math.floor(rest / 32);
  }
  let random = "";
  for (let i = 0; i < 16; i++) random += CROCKFORD[(randomBytes[i] ?? 0) % 32];
  return `dcr_${time}${random}`;
}

export const REQUEST_ID_PATTERN = /^dcr_[0-9A-HJKMNP-TV-Z]{26}$/;
