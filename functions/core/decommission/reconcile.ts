/**
 * The scheduled reconciler: drives what no caller's request does. It is safe to run at any
 * time and any number of times at once: every write is conditional on the version it read.
 */
import { type DecommissionRequest, isOpen, STATUSES, SYSTEM_ACTORS } from "./model.js";
import type { ExecutionQueue, PauseSwitch } from "./ports.js";
import { expire } from "./requests.js";
import { announce, iso, type WriteDependencies, writeTransition } from "./writes.js";

export interface ReconcilerDependencies extends WriteDependencies {
  queue: ExecutionQueue;
  pause: PauseSwitch;
  newToken: () => string;
}

export interface ReconcilerSettings {
  /**
   * An approved or executing request with no live lease whose message should have been
   * delivered this long ago (enqueue, due attempt) is considered lost and re-sent.
   */
  staleAfterMs: number;
  /** Ended requests changed this recently are checked for events that never reached the bus. */
  republishWindowMs: number;
}

export interface ReconcileSummary {
  expired: number;
  reEnqueued: number;
  republished: number;
  paused: boolean;
}

/**
 * One reconciler run.
 * 1. Pending requests past `expiresAt` become EXPIRED (their EVSE is freed, an event published).
 * 2. Unless execution is paused: approved or executing requests held while paused, or whose
 *    message is overdue (the enqueue was lost), get a new message token, a history entry and a
 *    new message; older messages are thereby superseded.
 * 3. Requests whose events did not all reach the bus (open ones, and ended ones changed within
 *    the republish window) have them resent, with their original ids.
 */
export async function reconcile(
  deps: ReconcilerDependencies,
  settings: ReconcilerSettings,
): Promise<ReconcileSummary> {
  const summary: ReconcileSummary = { expired: 0, reEnqueued: 0, republished: 0, paused: false };
  const now = deps.clock.now();

  for await (const request of deps.store.inStatus("PENDING_APPROVAL")) {
    if (now < Date.parse(request.expiresAt)) continue;
    if (await expire(deps, request)) summary.expired += 1;
  }

  summary.paused = await deps.pause.isPaused();
  if (!summary.paused) {
    for (const status of ["APPROVED", "EXECUTING"] as const) {
      for await (const request of deps.store.inStatus(status)) {
        if (!isOverdue(request, now, settings.staleAfterMs)) continue;
        if (await reEnqueue(deps, request, now)) summary.reEnqueued += 1;
      }
    }
  }

  const since = iso(now - settings.republishWindowMs);
  for (const status of STATUSES) {
    for await (const request of deps.store.inStatus(status, isOpen(status) ? undefined : since)) {
      if (request.publishedVersion >= request.version) continue;
      if ((await announce(deps, request)) > 0) summary.republished += 1;
    }
  }
  return summary;
}

function isOverdue(request: DecommissionRequest, now: number, staleAfterMs: number): boolean {
  const execution = request.execution;
  if (execution.leaseUntil !== null && execution.leaseUntil > now) return false;
  // Held while paused: no message exists, one is due now.
  if (execution.token === null) return true;
  const expectedBy = Math.max(
    execution.enqueuedAt === null ? 0 : Date.parse(execution.enqueuedAt),
    execution.nextAttemptAt === null ? 0 : Date.parse(execution.nextAttemptAt),
    execution.leaseUntil ?? 0,
  );
  return now - expectedBy > staleAfterMs;
}

async function reEnqueue(
  deps: ReconcilerDependencies,
  request: DecommissionRequest,
  now: number,
): Promise<boolean> {
  const token = deps.newToken();
  const written = await writeTransition(deps, request, "re-enqueue", {
    actor: SYSTEM_ACTORS.reconciler,
    detail: `execution message re-sent: no progress since ${request.execution.enqueuedAt ?? "approval"}`,
    set: { execution: { ...request.execution, token, enqueuedAt: iso(now) } },
  });
  if (written === "conflict") return false;
  await deps.queue.enqueue({ requestId: written.id, token });
  return true;
}
