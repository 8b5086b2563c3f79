/**
 * Execution messages that never ran to an outcome: the queue dead-lettered them, or this
 * deployment must not execute. Their requests fail, with the care a DELETE that may be under way
 * or may have taken effect needs.
 */
import { SYSTEM_ACTORS } from "./model.js";
import type { ExecutionMessage } from "./ports.js";
import { failRequest, type WriteDependencies } from "./writes.js";

/** Looked at again this long after a live lease ends, or after a lost race. */
const AFTER_LEASE_MS = 1_000;

/** What becomes of a dead-lettered message. */
export type DeadLetterOutcome =
  | { kind: "failed" }
  | { kind: "ignored"; why: string }
  /** An executor may be sending the DELETE right now: look again after its lease. */
  | { kind: "retry"; delayMs: number };

/**
 * A message the queue gave up on (it reached the dead-letter queue).
 * 1. Ignored when the request is gone, ended, or a newer message took over.
 * 2. While an executor's lease is live it may be mid-DELETE: retry after the lease.
 * 3. After a DELETE was sent, FAILED could be untrue: the request is left APPROVED/EXECUTING
 *    for the reconciler, which re-sends it once it is overdue, and the next pre-flight read
 *    settles what ev.energy did.
 * 4. Otherwise the request fails with the reason (nothing was deleted).
 */
export function failDeadLettered(
  deps: WriteDependencies,
  message: ExecutionMessage,
  /** How often the main queue delivered it, when known (a DLQ record does not say). */
  receiveCount?: number,
): Promise<DeadLetterOutcome> {
  return failUnexecuted(
    deps,
    message,
    (lastError) =>
      `execution abandoned: the queue dead-lettered its message after ${receiveCount === undefined ? "its maximum" : receiveCount} receives` +
      (lastError ? `; last error: ${lastError}` : ""),
  );
}

/**
 * Fails the request of an execution message without executing it, for `why` (e.g. a sandbox
 * that must not delete at the account it is pointed at), with the same care as a dead letter
 * (see `failDeadLettered`): never while an executor holds the lease, never after a DELETE.
 */
export async function failUnexecuted(
  deps: WriteDependencies,
  message: ExecutionMessage,
  why: (lastError: string | null) => string,
): Promise<DeadLetterOutcome> {
  for (let round = 0; round < 5; round++) {
    const request = await deps.store.get(message.requestId);
    if (request === undefined) return { kind: "ignored", why: "no such request" };
    if (request.status !== "APPROVED" && request.status !== "EXECUTING") {
      return { kind: "ignored", why: `request is ${request.status}` };
    }
    if (request.execution.token !== message.token) {
      return { kind: "ignored", why: "superseded by a newer message" };
    }
    const { lastError, deleteSent, leaseUntil } = request.execution;
    const now = deps.clock.now();
    if (leaseUntil !== null && leaseUntil > now) {
      return { kind: "retry", delayMs: Math.ceil(leaseUntil - now + AFTER_LEASE_MS) };
    }
    if (deleteSent) {
      return {
        kind: "ignored",
        why: "a DELETE was sent: the reconciler re-sends the request so a pre-flight read settles it",
      };
    }
    const reason = `${why(lastError)}; nothing was deleted`;
    const written = await failRequest(deps, request, reason, SYSTEM_ACTORS.reconciler);
    if (written !== "conflict") return { kind: "failed" };
  }
  return { kind: "retry", delayMs: AFTER_LEASE_MS };
}
