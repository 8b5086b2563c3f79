/**
 * The callers' use cases: create, read, list, approve, reject and cancel decommission
 * requests. Plain async functions over ports; the API handler calls them with a normalised
 * caller and validated input.
 */

import type { DeviceStore, Logger } from "../../ports.js";
import type { DeviceState } from "../device-state.js";
import type { ApproverPatterns } from "./approvers.js";
import {
  DeviceCharging,
  EvseNotActive,
  EvseNotFound,
  OpenRequestExists,
  RequestBusy,
  RequestNotFound,
} from "./errors.js";
import {
  type DecommissionRequest,
  type DeviceSnapshot,
  INITIAL_EXECUTION,
  isOpen,
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
}

export interface RequestSettings {
  approvers: ApproverPatterns;
  /** How long a request may wait for a decision. */
  pendingExpiryMs: number;
}

export interface CreateInput {
  evseId: string;
  reason: string;
  externalRef?: string | undefined;
}

/** A guard whose request is missing this long is a creation that died half-way. */
const ABANDONED_CLAIM_MS = 60_000;
/** Conditional writes lost to a concurrent writer are re-decided this many times. */
const RACE_ROUNDS = 5;

/**
 * Opens a request to decommission an EVSE.
 * 1. The EVSE must be one the poll recorded (404) and still active (409).
 * 2. Claim the EVSE's open-request guard. If another request holds it: a live one is a 409
 *    naming it; a pending one past its expiry is expired on the spot; one that ended, or a
 *    creation that died before writing its request, hands the guard over.
 * 3. Write the request (PENDING_APPROVAL, with the device's cpid and state as a snapshot and
 *    the first history entry); if that fails, free the guard again.
 * 4. Publish `EVSE Decommission Requested`.
 */
export async function createRequest(
  deps: RequestDependencies,
  settings: RequestSettings,
  caller: Principal,
  input: CreateInput,
): Promise<DecommissionRequest> {
  const device = await deps.devices.get(input.evseId);
  if (device === undefined) throw new EvseNotFound(input.evseId);
  if (device.lifecycle !== "active") throw new EvseNotActive(input.evseId, device.lifecycle);

  const now = deps.clock.now();
  const id = deps.newRequestId();
  await claimEvse(deps, input.evseId, id, now);

  const at = iso(now);
  const request: DecommissionRequest = {
    id,
    evseId: input.evseId,
    cpid: device.cpid,
    device: snapshotOf(device),
    status: "PENDING_APPROVAL",
    reason: input.reason,
    externalRef: input.externalRef ?? null,
    requestedBy: caller,
    requestedAt: at,
    expiresAt: iso(now + settings.pendingExpiryMs),
    approvedBy: null,
    approvedAt: null,
    force: false,
    decidedBy: null,
    outcome: null,
    completedAt: null,
    execution: INITIAL_EXECUTION,
    history: [
      {
        at,
        actor: caller.arn,
        action: "requested",
        from: null,
        to: "PENDING_APPROVAL",
        detail: input.reason,
        version: 1,
      },
    ],
    version: 1,
    publishedVersion: 0,
    updatedAt: at,
  };
  try {
    await deps.store.create(request);
  } catch (error) {
    await deps.store.releaseEvse(input.evseId, id).catch(() => undefined);
    throw error;
  }
  await announce(deps, request);
  return request;
}

async function claimEvse(
  deps: RequestDependencies,
  evseId: string,
  id: string,
  now: number,
): Promise<void> {
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const claim = await deps.store.claimEvse(evseId, id, now);
    if (claim.claimed) return;
    const holder = await deps.store.get(claim.holder);
    if (holder === undefined) {
      if (now - claim.claimedAt < ABANDONED_CLAIM_MS)
        throw new OpenRequestExists(evseId, claim.holder);
    } else if (isOpen(holder.status)) {
      const expired = holder.status === "PENDING_APPROVAL" && now >= Date.parse(holder.expiresAt);
      if (!expired) throw new OpenRequestExists(evseId, holder.id);
      await expire(deps, holder);
    }
    if (await deps.store.takeOverEvse(evseId, claim.holder, id, now)) return;
  }
  const holder = await deps.store.openRequestFor(evseId);
  throw new OpenRequestExists(evseId, holder ?? "unknown");
}

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
 * 1. Check the caller against the request (approver role, another person than the requester,
 *    pending, unexpired) — see `checkCallerAction`.
 * 2. Refuse a device whose last-seen state is charging unless `force`.
 * 3. Write APPROVED with a fresh execution token, conditional on the version read; a lost race
 *    re-reads and re-checks (the loser of 100 concurrent approvals gets a 409).
 * 4. Publish `EVSE Decommission Approved`, then enqueue the execution. A failed enqueue is
 *    logged: the reconciler re-sends approved requests whose execution never started.
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
    checkCallerAction("approve", request, caller, { approvers: settings.approvers, now });
    const device = await deps.devices.get(request.evseId);
    if (device?.isCharging === true && !force) throw new DeviceCharging(request.evseId);
    const token = deps.newToken();
    const detail = [input.comment, force ? "force: execute even if charging" : undefined]
      .filter((part) => part !== undefined && part !== "")
      .join("; ");
    return writeTransition(deps, request, "approve", {
      actor: caller.arn,
      detail: detail === "" ? undefined : detail,
      set: {
        approvedBy: caller,
        approvedAt: iso(now),
        force,
        execution: { ...INITIAL_EXECUTION, token, enqueuedAt: iso(now) },
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

function snapshotOf(device: DeviceState): DeviceSnapshot {
  return {
    cpid: device.cpid,
    lockMode: device.lockMode,
    isPluggedIn: device.isPluggedIn,
    isCharging: device.isCharging,
    connectivity: device.connectivity,
    sampledAt: device.sampledAt,
    lastSeenAt: device.lastSeenAt,
  };
}
