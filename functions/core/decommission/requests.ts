/**
 * The callers' use cases: create, read, list, approve, reject and cancel decommission
 * requests. Plain async functions over ports; the API handler calls them with a normalised
 * caller and validated input.
 */

import type { DeviceStore, Logger } from "../../ports.js";
import { type ApprovalSigner, approvalMessage, isSignedRequest } from "./approval.js";
import type { ApproverPatterns } from "./approvers.js";
import {
  DeviceCharging,
  RequestBusy,
  RequestNotFound,
  RequestNotOpened,
  RequestTampered,
} from "./errors.js";
import {
  type DecommissionRequest,
  EXECUTION_DISABLED,
  INITIAL_EXECUTION,
  SYSTEM_ACTORS,
} from "./model.js";
import type { DecommissionStore, ExecutionQueue, Page, RequestQuery } from "./ports.js";
import type { Principal } from "./principal.js";
import { checkCallerAction } from "./state-machine.js";
import { announce, iso, type WriteDependencies, writeTransition } from "./writes.js";

export interface RequestDependencies extends WriteDependencies {
  store: DecommissionStore;
  devices: Pick<DeviceStore, "get">;
  queue: ExecutionQueue;
  logger: Logger;
  /** A new request id (`dcr_` + ULID). */
  newRequestId: () => string;
  /** A new opaque token (queue message tokens). */
  newToken: () => string;
  /** Signs approvals; only the API holds it. */
  signer: ApprovalSigner;
}

export interface RequestSettings {
  approvers: ApproverPatterns;
  /** How long a request may wait for a decision. */
  pendingExpiryMs: number;
  /**
   * Whether this stage carries out approved requests (`decommission.executor.enabled`); when
   * false, approvals say so (the executor fails them without a DELETE). Default true.
   */
  executionEnabled?: boolean;
}

/** Conditional writes lost to a concurrent writer are re-decided this many times. */
export const RACE_ROUNDS = 5;

/** Marks a pending request past its expiry EXPIRED and frees its EVSE. */
export async function expire(
  deps: WriteDependencies,
  request: DecommissionRequest,
): Promise<DecommissionRequest | undefined> {
  const written = await writeTransition(deps, request, "expire", {
    actor: SYSTEM_ACTORS.reconciler,
    detail: `no decision before ${request.expiresAt}`,
    set: { outcome: "expired without a decision" },
  });
  if (written === "conflict") return undefined;
  await deps.store.releaseEvse(written.evseId, written.id);
  await announce(deps, written);
  return written;
}

export async function getRequest(
  deps: Pick<RequestDependencies, "store">,
  id: string,
): Promise<DecommissionRequest> {
  const request = await deps.store.get(id);
  if (request === undefined) throw new RequestNotFound(id);
  return request;
}

export function listRequests(
  deps: Pick<RequestDependencies, "store">,
  query: RequestQuery,
): Promise<Page<DecommissionRequest>> {
  return deps.store.list(query);
}

export interface ApproveInput {
  comment?: string | undefined;
  force?: boolean | undefined;
}

/**
 * Approves a pending request; execution follows asynchronously.
 * 1. The stored request must be the one the API created (its signature matches): an item
 *    edited since (another requester, another EVSE) is never approved.
 * 2. Check the caller against the request (a session of an approver role, another person than
 *    the requester, pending, unexpired) — see `checkCallerAction`.
 * 3. Refuse a device whose last-seen state is charging unless `force`.
 * 4. The request must hold its EVSE's guard (one that never took it cannot be approved).
 * 5. Sign the approval (see approval.ts; executable for the pending expiry after approval) and
 *    write APPROVED with the signature and a fresh execution token, conditional on the version
 *    read and on the request not having expired by now; a lost race re-reads and re-checks
 *    (the loser of 100 concurrent approvals gets a 409, an approval racing expiry a 409
 *    "expired").
 * 5. Publish `EVSE Decommission Approved`, then enqueue the execution. A failed enqueue is
 *    logged: the reconciler re-sends approved requests whose execution never started.
 * In a stage whose execution is off, the approval's history entry (and its event) says that the
 * request will fail without a DELETE; it is enqueued all the same, and the executor fails it.
 */
export async function approveRequest(
  deps: RequestDependencies,
  settings: RequestSettings,
  caller: Principal,
  id: string,
  input: ApproveInput,
): Promise<DecommissionRequest> {
  const force = input.force === true;
  const approved = await decide(deps, id, async (request) => {
    const now = deps.clock.now();
    if (!(await isSignedRequest(request, deps.signer))) {
      deps.logger.error("decommission request refused: its item does not match its signature", {
        requestId: request.id,
      });
      throw new RequestTampered(request.id);
    }
    checkCallerAction("approve", request, caller, { approvers: settings.approvers, now });
    const device = await deps.devices.get(request.evseId);
    if (device?.isCharging === true && !force) throw new DeviceCharging(request.evseId);
    if ((await deps.store.openRequestFor(request.evseId)) !== request.id) {
      throw new RequestNotOpened(request.id, request.evseId);
    }
    const approvedAt = iso(now);
    const executableUntil = iso(now + settings.pendingExpiryMs);
    const approvalMac = await deps.signer.sign(
      approvalMessage({ ...request, approvedBy: caller, approvedAt, executableUntil, force }),
    );
    const token = deps.newToken();
    const detail = [
      input.comment,
      force ? "force: execute even if charging" : undefined,
      settings.executionEnabled === false ? EXECUTION_DISABLED.approval : undefined,
    ]
      .filter((part) => part !== undefined && part !== "")
      .join("; ");
    return writeTransition(deps, request, "approve", {
      actor: caller.arn,
      detail: detail === "" ? undefined : detail,
      at: approvedAt,
      unexpiredAt: approvedAt,
      set: {
        approvedBy: caller,
        approvedAt,
        executableUntil,
        approvalMac,
        force,
        execution: { ...INITIAL_EXECUTION, token, enqueuedAt: approvedAt },
      },
    });
  });
  await announce(deps, approved);
  const token = approved.execution.token;
  if (token !== null) {
    try {
      await deps.queue.enqueue({ requestId: approved.id, token });
    } catch (error) {
      deps.logger.error("execution enqueue failed; the reconciler will re-send it", {
        requestId: approved.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return approved;
}

/**
 * Rejects a pending request (approvers only), with a reason.
 * 1. Check the caller (approver role; pending; unexpired).
 * 2. Write REJECTED conditionally, free the EVSE, publish `EVSE Decommission Rejected`.
 */
export async function rejectRequest(
  deps: RequestDependencies,
  settings: RequestSettings,
  caller: Principal,
  id: string,
  reason: string,
): Promise<DecommissionRequest> {
  const rejected = await decide(deps, id, (request) => {
    checkCallerAction("reject", request, caller, {
      approvers: settings.approvers,
      now: deps.clock.now(),
    });
    return writeTransition(deps, request, "reject", {
      actor: caller.arn,
      detail: reason,
      set: { decidedBy: caller, outcome: `rejected: ${reason}` },
    });
  });
  await deps.store.releaseEvse(rejected.evseId, rejected.id);
  await announce(deps, rejected);
  return rejected;
}

/**
 * Cancels a pending request (its requester only).
 * 1. Check the caller (the requester; pending; unexpired).
 * 2. Write CANCELLED conditionally, free the EVSE, publish `EVSE Decommission Cancelled`.
 */
export async function cancelRequest(
  deps: RequestDependencies,
  settings: RequestSettings,
  caller: Principal,
  id: string,
  reason: string | undefined,
): Promise<DecommissionRequest> {
  const cancelled = await decide(deps, id, (request) => {
    checkCallerAction("cancel", request, caller, {
      approvers: settings.approvers,
      now: deps.clock.now(),
    });
    return writeTransition(deps, request, "cancel", {
      actor: caller.arn,
      detail: reason,
      set: { decidedBy: caller, outcome: reason ? `cancelled: ${reason}` : "cancelled" },
    });
  });
  await deps.store.releaseEvse(cancelled.evseId, cancelled.id);
  await announce(deps, cancelled);
  return cancelled;
}

/** Reads, decides and writes; a write lost to a concurrent writer is decided again afresh. */
async function decide(
  deps: RequestDependencies,
  id: string,
  attempt: (request: DecommissionRequest) => Promise<DecommissionRequest | "conflict">,
): Promise<DecommissionRequest> {
  for (let round = 0; ; round++) {
    const request = await getRequest(deps, id);
    const written = await attempt(request);
    if (written !== "conflict") return written;
    if (round + 1 >= RACE_ROUNDS) throw new RequestBusy(id);
  }
}
