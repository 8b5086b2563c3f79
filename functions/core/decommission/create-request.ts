/**
 * Opening a decommission request: the request is written first, then it takes its EVSE's
 * open-request guard, so a guard only ever names a request that exists and is never taken from
 * one that is still open.
 */
import type { DeviceState } from "../device-state.js";
import { requestMessage } from "./approval.js";
import { EvseNotActive, EvseNotFound, OpenRequestExists } from "./errors.js";
import {
  type DecommissionRequest,
  type DeviceSnapshot,
  INITIAL_EXECUTION,
  isOpen,
  SYSTEM_ACTORS,
} from "./model.js";
import type { Principal } from "./principal.js";
import { expire, RACE_ROUNDS, type RequestDependencies, type RequestSettings } from "./requests.js";
import { requirePerson } from "./state-machine.js";
import { announce, iso, writeTransition } from "./writes.js";

export interface CreateInput {
  evseId: string;
  reason: string;
  externalRef?: string | undefined;
}

/** A guard naming a request that was never written, this long ago, belongs to a dead creation. */
const ABANDONED_CLAIM_MS = 60_000;
/**
 * Opens a request to decommission an EVSE.
 * 1. The EVSE must be one the poll recorded (404) and still active (409); the caller must name
 *    a person (403).
 * 2. If the EVSE's open-request guard names a live request, a 409 naming it: nothing is written.
 * 3. Write the request (PENDING_APPROVAL, with the device's cpid and state as a snapshot and
 *    the first history entry). It cannot be approved until it holds the guard.
 * 4. Take the guard (see `holdEvse`). If another request holds it after all, this one is
 *    withdrawn (CANCELLED by the system, no events) and the caller gets the 409.
 * 5. Publish `EVSE Decommission Requested`.
 * Writing the request before its guard means the guard only ever names a request that exists,
 * so a guard is never taken from a creation that is still under way.
 */
export async function createRequest(
  deps: RequestDependencies,
  settings: RequestSettings,
  caller: Principal,
  input: CreateInput,
): Promise<DecommissionRequest> {
  requirePerson(caller);
  const device = await deps.devices.get(input.evseId);
  if (device === undefined) throw new EvseNotFound(input.evseId);
  if (device.lifecycle !== "active") throw new EvseNotActive(input.evseId, device.lifecycle);

  const now = deps.clock.now();
  const live = await liveHolder(deps, input.evseId, now);
  if (live !== undefined) throw new OpenRequestExists(input.evseId, live);

  const at = iso(now);
  const unsigned: DecommissionRequest = {
    id: deps.newRequestId(),
    evseId: input.evseId,
    cpid: device.cpid,
    device: snapshotOf(device),
    status: "PENDING_APPROVAL",
    reason: input.reason,
    externalRef: input.externalRef ?? null,
    requestedBy: caller,
    requestedAt: at,
    expiresAt: iso(now + settings.pendingExpiryMs),
    requestMac: null,
    approvedBy: null,
    approvedAt: null,
    executableUntil: null,
    approvalMac: null,
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
  const request = { ...unsigned, requestMac: await deps.signer.sign(requestMessage(unsigned)) };
  await deps.store.create(request);
  const holder = await holdEvse(deps, request, now);
  if (holder !== undefined) {
    await withdraw(deps, request, `not opened: EVSE ${request.evseId} has open request ${holder}`);
    throw new OpenRequestExists(request.evseId, holder);
  }
  await announce(deps, request);
  return request;
}

/**
 * The open request holding the EVSE's guard, if one does. A pending request past its expiry
 * does not count (it is expired when the guard is taken); nor does a guard whose request was
 * never written (an older creation order) once it is `ABANDONED_CLAIM_MS` old.
 */
async function liveHolder(
  deps: RequestDependencies,
  evseId: string,
  now: number,
): Promise<string | undefined> {
  const guard = await deps.store.openRequestFor(evseId);
  if (guard === undefined) return undefined;
  const holder = await deps.store.get(guard);
  if (holder === undefined || !isOpen(holder.status) || isExpired(holder, now)) return undefined;
  return holder.id;
}

/**
 * Takes the EVSE's guard for `request`; returns the live request that holds it instead, if any.
 * A guard held by an ended request, or by a request that was never written and whose claim is
 * old, is moved over conditionally on still naming it; a pending request past its expiry is
 * expired first. Only a successful EXPIRED write lets the guard move: if the holder was
 * approved meanwhile, it is live and keeps the guard.
 */
async function holdEvse(
  deps: RequestDependencies,
  request: DecommissionRequest,
  now: number,
): Promise<string | undefined> {
  for (let round = 0; round < RACE_ROUNDS; round++) {
    const claim = await deps.store.claimEvse(request.evseId, request.id, now);
    if (claim.claimed) return undefined;
    const holder = await deps.store.get(claim.holder);
    if (holder === undefined) {
      if (now - claim.claimedAt < ABANDONED_CLAIM_MS) return claim.holder;
    } else if (isOpen(holder.status)) {
      if (!isExpired(holder, now)) return holder.id;
      await expire(deps, holder);
      continue;
    }
    if (await deps.store.takeOverEvse(request.evseId, claim.holder, request.id, now)) {
      return undefined;
    }
  }
  return (await deps.store.openRequestFor(request.evseId)) ?? "unknown";
}

function isExpired(request: DecommissionRequest, now: number): boolean {
  return request.status === "PENDING_APPROVAL" && now >= Date.parse(request.expiresAt);
}

/** Ends a request that never took its guard: CANCELLED by the system, its events suppressed. */
async function withdraw(deps: RequestDependencies, request: DecommissionRequest, why: string) {
  const written = await writeTransition(deps, request, "withdraw", {
    actor: SYSTEM_ACTORS.api,
    detail: why,
    set: { outcome: why, publishedVersion: request.version + 1 },
  });
  if (written === "conflict") {
    deps.logger.warn("could not withdraw a request that never opened; it expires unapproved", {
      requestId: request.id,
    });
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
