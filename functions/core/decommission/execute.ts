/**
 * The executor: one queue message in, at most one effective upstream DELETE out. It owns the
 * retries (the ev.energy client's are off for this path), keeps its progress on the request so
 * any executor can pick it up, and answers the message source with a verdict: done (delete the
 * message) or retry after a delay (keep it, invisible until then).
 */
import type { EvEnergyApi, Random } from "../../ports.js";
import { type ApprovalVerifier, approvalViolation } from "./approval.js";
import { failUnexecuted } from "./dead-letters.js";
import {
  type DecommissionRequest,
  EXECUTION_DISABLED,
  type ExecutionState,
  SYSTEM_ACTORS,
} from "./model.js";
import type { DeviceCompletion, ExecutionMessage, PauseSwitch } from "./ports.js";
import { announce, failRequest, iso, type WriteDependencies, writeTransition } from "./writes.js";

export interface ExecutorDependencies extends WriteDependencies {
  /** Marks a deleted device `decommissioned`: the executor's only write to device items. */
  devices: DeviceCompletion;
  /** Checks approval signatures; only the executor holds it. */
  verifier: ApprovalVerifier;
  /** Built with the write-scoped credential. */
  api: Pick<EvEnergyApi, "getEvse" | "deleteEvse">;
  pause: PauseSwitch;
  random: Random;
  /** A fresh opaque id (lease owners). */
  newToken: () => string;
}

export interface ExecutorSettings {
  /** Attempts after which a request whose outcome is known fails for good. */
  maxAttempts: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** How long a claim excludes other executors: longer than one attempt can take. */
  leaseMs: number;
}

export type Verdict =
  | {
      kind: "done";
      outcome: "completed" | "failed" | "skipped";
      note: string;
      /** Failed because the request's approval did not hold up (alarmed on). */
      integrityViolation?: true;
      /** Failed because this stage's execution is off: deliberate, so counted apart. */
      executionDisabled?: true;
    }
  | { kind: "retry"; delayMs: number; note: string };

/** Failures of one upstream call, as the executor treats them. */
type Failure =
  | { kind: "permanent"; message: string }
  | { kind: "transient"; message: string; retryAt?: number };

const RACE_RETRY_MS = 1_000;

/**
 * Handles one execution message.
 * 1. Skip it when the request is gone, no longer approved or executing, or the message carries
 *    another token (superseded).
 * 2. Check the approval (signature and history, see approval.ts): a request whose approval
 *    does not hold up is FAILED as an integrity violation, and nothing is sent upstream.
 * 3. Wait (retry verdict) while another executor's lease is live. When execution is paused,
 *    hold the request (no live message) and drop the message: the reconciler sends a new one
 *    once the switch is released. Wait while the next attempt is due later (backoff,
 *    Retry-After).
 * 5. Claim the request: EXECUTING, a lease, one more attempt, conditional on the version read.
 * 6. Pre-flight: re-read the EVSE from ev.energy with the write credential.
 *    - 404: if a DELETE was sent earlier, it took effect → COMPLETED; otherwise FAILED (the
 *      EVSE is gone, or the write credential belongs to another account).
 *    - another cpid than the request's snapshot → FAILED; charging now and not forced → FAILED.
 *    - found after the attempts ran out (this read only settled an earlier DELETE) → FAILED.
 *    - found after the approval's window (`executableUntil`) → FAILED: a stale approval of an
 *      irreversible act is not carried out.
 * 7. Record that the DELETE is being sent (write-ahead: a crash from here on counts as sent),
 *    check the approval once more on the request as written, then DELETE without retries.
 *    - 204 → COMPLETED: free the EVSE, mark the device decommissioned, publish.
 *    - 404 → COMPLETED if a DELETE was sent in an earlier attempt, else FAILED.
 *    - 429, 5xx, timeouts, resets → retry with backoff (at least until Retry-After); the next
 *      attempt's pre-flight settles whether this DELETE took effect.
 *    - any other 4xx → FAILED with ev.energy's answer, unless a DELETE was sent: then retried.
 */
export async function executeMessage(
  deps: ExecutorDependencies,
  settings: ExecutorSettings,
  message: ExecutionMessage,
  receiveCount: number,
): Promise<Verdict> {
  const request = await deps.store.get(message.requestId);
  if (request === undefined) return skipped("no such request");
  if (request.status !== "APPROVED" && request.status !== "EXECUTING") {
    return skipped(`request is ${request.status}`);
  }
  if (request.execution.token !== message.token) return skipped("superseded by a newer message");
  const violation = await approvalViolation(request, deps.verifier);
  if (violation !== undefined) return refuse(deps, request, violation);

  const now = deps.clock.now();
  const execution = request.execution;
  // Before the pause: holding would take the request from an executor that may be mid-DELETE.
  if (execution.leaseUntil !== null && execution.leaseUntil > now) {
    return retry(execution.leaseUntil - now + RACE_RETRY_MS, "another executor holds the lease");
  }
  if (await deps.pause.isPaused()) return hold(deps, request);
  const due = execution.nextAttemptAt === null ? now : Date.parse(execution.nextAttemptAt);
  if (due > now) return retry(due - now, "the next attempt is not due yet");

  const claimed = await writeTransition(deps, request, "start", {
    actor: SYSTEM_ACTORS.executor,
    detail: `execution started (message receive ${receiveCount})`,
    silent: request.status === "EXECUTING",
    set: {
      execution: {
        ...execution,
        attempts: execution.attempts + 1,
        nextAttemptAt: null,
        leaseOwner: deps.newToken(),
        leaseUntil: now + settings.leaseMs,
      },
    },
  });
  if (claimed === "conflict") return retry(RACE_RETRY_MS, "lost the claim to another writer");
  return attempt(deps, settings, claimed);
}

async function attempt(
  deps: ExecutorDependencies,
  settings: ExecutorSettings,
  request: DecommissionRequest,
): Promise<Verdict> {
  const n = request.execution.attempts;
  let lookup: Awaited<ReturnType<ExecutorDependencies["api"]["getEvse"]>>;
  try {
    lookup = await deps.api.getEvse(request.evseId, { retries: false });
  } catch (error) {
    return afterFailure(deps, settings, request, classify(error), "pre-flight read");
  }

  if (lookup.status === "not-found") {
    if (request.execution.deleteSent) {
      return complete(
        deps,
        request,
        `ev.energy answers 404 after a DELETE of an earlier attempt: that DELETE took effect (attempt ${n})`,
      );
    }
    return fail(
      deps,
      request,
      `pre-flight: ev.energy answers 404 for this EVSE with the write credential; the poll listed it at ${request.device.lastSeenAt}, so either it was removed since or the write credential belongs to another account; nothing was deleted`,
    );
  }
  const evse = lookup.evse;
  const cpid = evse.cpid === undefined ? undefined : evse.cpid;
  if (cpid !== request.cpid) {
    return fail(
      deps,
      request,
      `pre-flight: cpid mismatch: the request was for ${request.cpid ?? "no cpid"}, ev.energy now reports ${cpid ?? "no readable cpid"}; nothing was deleted`,
    );
  }
  if (evse.latestStatusLog?.isCharging === true && !request.force) {
    return fail(
      deps,
      request,
      "pre-flight: the EVSE is charging right now and the approval was not forced; nothing was deleted",
    );
  }
  if (request.execution.attempts > settings.maxAttempts) {
    // Only here to learn whether the last DELETE took effect: it did not, the EVSE is there.
    return fail(
      deps,
      request,
      `gave up after ${settings.maxAttempts} attempts (the EVSE is still there); last: ${request.execution.lastError ?? "unknown"}`,
    );
  }
  const lapsed = Date.parse(request.executableUntil ?? "");
  if (!(deps.clock.now() < lapsed)) {
    return fail(
      deps,
      request,
      `the approval lapsed at ${request.executableUntil ?? "an unknown time"} before a DELETE was sent; nothing was deleted: open a new request`,
    );
  }
  if (await deps.pause.isPaused()) return hold(deps, request);

  const sent = await writeTransition(deps, request, "send-delete", {
    actor: SYSTEM_ACTORS.executor,
    detail: `DELETE /v2/evses/${request.evseId} sent (attempt ${n})`,
    set: { execution: { ...request.execution, deleteSent: true } },
  });
  if (sent === "conflict") return retry(RACE_RETRY_MS, "lost the lease before the DELETE");
  // What is deleted is what the written request names: it must still be what was approved.
  const violation = await approvalViolation(sent, deps.verifier);
  if (violation !== undefined) return refuse(deps, sent, violation);

  let outcome: Awaited<ReturnType<ExecutorDependencies["api"]["deleteEvse"]>>;
  try {
    outcome = await deps.api.deleteEvse(sent.evseId, { retries: false });
  } catch (error) {
    return afterFailure(deps, settings, sent, classify(error), "DELETE");
  }
  if (outcome.status === "deleted") {
    return complete(deps, sent, `DELETE answered 204 (attempt ${n})`);
  }
  if (request.execution.deleteSent) {
    return complete(
      deps,
      sent,
      `DELETE answered 404 after a DELETE of an earlier attempt: that DELETE took effect (attempt ${n})`,
    );
  }
  return fail(
    deps,
    sent,
    "DELETE answered 404 although the pre-flight read had found the EVSE; it was removed by something else",
  );
}

async function afterFailure(
  deps: ExecutorDependencies,
  settings: ExecutorSettings,
  request: DecommissionRequest,
  failure: Failure,
  step: "pre-flight read" | "DELETE",
): Promise<Verdict> {
  const message = `${step}: ${failure.message}`;
  const execution = request.execution;
  // After a DELETE was sent, FAILED could be untrue (it may have taken effect): keep retrying,
  // so a pre-flight read settles it, however permanent this failure looks (a revoked secret).
  if (failure.kind === "permanent" && !execution.deleteSent) return fail(deps, request, message);
  const now = deps.clock.now();
  if (execution.attempts >= settings.maxAttempts && !execution.deleteSent) {
    return fail(deps, request, `gave up after ${execution.attempts} attempts; last: ${message}`);
  }
  // Out of attempts after a DELETE was sent: one more pre-flight read settles whether it took
  // effect (see attempt), so the request never says FAILED for a device that is gone.
  const ceiling = Math.min(
    settings.maxBackoffMs,
    settings.baseBackoffMs * 2 ** Math.max(0, execution.attempts - 1),
  );
  const backoff = ceiling / 2 + deps.random() * (ceiling / 2);
  const retryAt = failure.kind === "transient" ? (failure.retryAt ?? 0) : 0;
  const next = Math.ceil(Math.max(now + backoff, retryAt));
  const written = await writeTransition(deps, request, "retry", {
    actor: SYSTEM_ACTORS.executor,
    detail:
      `attempt ${execution.attempts} failed: ${message}; next attempt not before ${iso(next)}` +
      (execution.deleteSent ? "; a DELETE was sent, so the next pre-flight read checks first" : ""),
    set: {
      execution: { ...released(execution), nextAttemptAt: iso(next), lastError: message },
    },
  });
  if (written === "conflict")
    return retry(RACE_RETRY_MS, "lost the lease while recording a failure");
  deps.logger.warn("decommission attempt failed; retrying", {
    requestId: request.id,
    attempt: execution.attempts,
    reason: message,
    deleteSent: execution.deleteSent,
    nextAttemptAt: iso(next),
  });
  return retry(next - now, message);
}

async function complete(
  deps: ExecutorDependencies,
  request: DecommissionRequest,
  detail: string,
): Promise<Verdict> {
  const now = deps.clock.now();
  const written = await writeTransition(deps, request, "complete", {
    actor: SYSTEM_ACTORS.executor,
    detail,
    set: {
      completedAt: iso(now),
      outcome: detail,
      execution: { ...released(request.execution), nextAttemptAt: null },
    },
  });
  if (written === "conflict") {
    // The DELETE is done but the lease was lost: the next attempt reads 404 and completes.
    return retry(RACE_RETRY_MS, "lost the lease while completing");
  }
  await deps.store.releaseEvse(written.evseId, written.id);
  await deps.devices.markDecommissioned(written.evseId, iso(now));
  await announce(deps, written);
  deps.logger.info("EVSE decommissioned", { requestId: written.id, evseId: written.evseId });
  return { kind: "done", outcome: "completed", note: detail };
}

/** FAILED with `reason` (see `failRequest`); a write lost to another writer is a retry. */
async function fail(
  deps: WriteDependencies,
  request: DecommissionRequest,
  reason: string,
): Promise<Verdict> {
  const written = await failRequest(deps, request, reason, SYSTEM_ACTORS.executor);
  if (written === "conflict") return retry(RACE_RETRY_MS, "lost the lease while failing");
  return { kind: "done", outcome: "failed", note: reason };
}

/**
 * An execution message in a stage whose execution is off (`decommission.executor.enabled`
 * false). Nothing here can reach ev.energy: the function that runs it holds no ev.energy client
 * and no write credential (infra does not grant it).
 * 1. Skip it as `executeMessage` would (request gone, ended, or superseded).
 * 2. Check the approval all the same: a forged one is an integrity violation here too, and the
 *    signing chain is proven in every stage.
 * 3. Fail the request with `EXECUTION_DISABLED.outcome` (as `failUnexecuted`: never while a
 *    lease is live, never after a DELETE was sent, which only an earlier enabled executor could
 *    have done: that request is left for an enabled one to settle).
 */
export async function refuseDisabled(
  deps: WriteDependencies & { verifier: ApprovalVerifier },
  message: ExecutionMessage,
): Promise<Verdict> {
  const request = await deps.store.get(message.requestId);
  if (request === undefined) return skipped("no such request");
  if (request.status !== "APPROVED" && request.status !== "EXECUTING") {
    return skipped(`request is ${request.status}`);
  }
  if (request.execution.token !== message.token) return skipped("superseded by a newer message");
  const violation = await approvalViolation(request, deps.verifier);
  if (violation !== undefined) return refuse(deps, request, violation);
  const outcome = await failUnexecuted(deps, message, () => EXECUTION_DISABLED.outcome);
  switch (outcome.kind) {
    case "failed":
      return {
        kind: "done",
        outcome: "failed",
        note: EXECUTION_DISABLED.outcome,
        executionDisabled: true,
      };
    case "retry":
      return retry(outcome.delayMs, "another executor holds the lease");
    case "ignored":
      if (request.execution.deleteSent) {
        deps.logger.warn(
          "a DELETE was sent before execution was disabled; enable execution to settle it",
          { requestId: request.id },
        );
      }
      return skipped(outcome.why);
  }
}

/** How the executor treats an error of the ev.energy client. */
function classify(error: unknown): Failure {
  if (!(error instanceof Error)) throw error;
  switch (error.name) {
    case "RateLimited": {
      const retryAt = (error as Error & { retryAt?: unknown }).retryAt;
      return {
        kind: "transient",
        message: error.message,
        ...(typeof retryAt === "number" ? { retryAt } : {}),
      };
    }
    case "EvEnergyUnavailable":
    case "MalformedResponse":
      return { kind: "transient", message: error.message };
    case "EvEnergyProblem": {
      const status = (error as Error & { status?: unknown }).status;
      if (typeof status === "number" && (status === 408 || status >= 500)) {
        return { kind: "transient", message: error.message };
      }
      return { kind: "permanent", message: error.message };
    }
    case "CredentialsError":
      return { kind: "permanent", message: error.message };
    default:
      // A bug, not an upstream answer: the message is retried by the queue; a DELETE that was
      // under way stays recorded as sent.
      throw error;
  }
}

/**
 * The approval does not hold up: FAILED without a DELETE, reported as an integrity violation
 * (someone or something wrote the request outside the API). Logged as an error: it alarms.
 */
async function refuse(
  deps: WriteDependencies,
  request: DecommissionRequest,
  violation: string,
): Promise<Verdict> {
  deps.logger.error("decommission refused: integrity violation", {
    requestId: request.id,
    evseId: request.evseId,
    violation,
  });
  const verdict = await fail(
    deps,
    request,
    `integrity violation: ${violation}; nothing was deleted`,
  );
  return verdict.kind === "done" ? { ...verdict, integrityViolation: true } : verdict;
}

/**
 * The pause switch is on: the message is dropped and the request keeps its status with no live
 * message (token null), so the reconciler sends a new one once execution is released.
 */
async function hold(deps: ExecutorDependencies, request: DecommissionRequest): Promise<Verdict> {
  const written = await writeTransition(deps, request, "hold", {
    actor: SYSTEM_ACTORS.executor,
    detail: "execution paused by the operators' switch; resumes when released",
    set: { execution: { ...released(request.execution), token: null, enqueuedAt: null } },
  });
  if (written === "conflict") return retry(RACE_RETRY_MS, "lost a race while holding");
  return skipped("execution is paused");
}

function released(execution: ExecutionState): ExecutionState {
  return { ...execution, leaseOwner: null, leaseUntil: null };
}

function skipped(note: string): Verdict {
  return { kind: "done", outcome: "skipped", note };
}

function retry(delayMs: number, note: string): Verdict {
  return { kind: "retry", delayMs: Math.max(0, Math.ceil(delayMs)), note };
}
