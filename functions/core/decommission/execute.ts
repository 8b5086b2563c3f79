/**
 * The executor: one queue message in, at most one effective upstream DELETE out. It owns the
 * retries (the ev.energy client's are off for this path), keeps its progress on the request so
 * any executor can pick it up, and answers the message source with a verdict: done (delete the
 * message) or retry after a delay (keep it, invisible until then).
 */
import type { DeviceStore, EvEnergyApi, Random } from "../../ports.js";
import { type DecommissionRequest, type ExecutionState, SYSTEM_ACTORS } from "./model.js";
import type { ExecutionMessage, PauseSwitch } from "./ports.js";
import { announce, iso, type WriteDependencies, writeTransition } from "./writes.js";

export interface ExecutorDependencies extends WriteDependencies {
  devices: Pick<DeviceStore, "get" | "put">;
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
  | { kind: "done"; outcome: "completed" | "failed" | "skipped"; note: string }
  | { kind: "retry"; delayMs: number; note: string };

/** Failures of one upstream call, as the executor treats them. */
type Failure =
  | { kind: "permanent"; message: string }
  /** `unknown`: a DELETE that may have been applied (timeout, reset, 5xx). */
  | { kind: "transient"; message: string; retryAt?: number; unknown: boolean };

const RACE_RETRY_MS = 1_000;

/**
 * Handles one execution message.
 * 1. Skip it when the request is gone, no longer approved or executing, or the message carries
 *    another token (superseded). When execution is paused, hold the request (no live message)
 *    and drop the message: the reconciler sends a new one once the switch is released.
 * 2. Wait (retry verdict) while another executor's lease is live or the next attempt is due
 *    later (backoff, Retry-After).
 * 3. Claim the request: EXECUTING, a lease, one more attempt, conditional on the version read.
 * 4. Pre-flight: re-read the EVSE from ev.energy with the write credential.
 *    - 404: if an earlier DELETE's outcome was unknown, it took effect → COMPLETED; otherwise
 *      FAILED (a credential of another account if the poll still sees the device).
 *    - another cpid than the request's snapshot → FAILED; charging now and not forced → FAILED.
 *    - found after the attempts ran out (this read only settled an unknown outcome) → FAILED.
 * 5. Record that the DELETE is being sent (write-ahead: a crash from here on is an unknown
 *    outcome), then DELETE without client retries.
 *    - 204 → COMPLETED: free the EVSE, mark the device decommissioned, publish.
 *    - 404 → COMPLETED if an earlier outcome was unknown, else FAILED.
 *    - 429, 5xx, timeouts, resets → retry with backoff (at least until Retry-After); when the
 *      attempts run out FAILED with the reason, unless an outcome is still unknown: that is
 *      retried until resolved (or the queue dead-letters it, see `failDeadLettered`).
 *    - any other 4xx → FAILED with ev.energy's answer.
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
  if (await deps.pause.isPaused()) return hold(deps, request);

  const now = deps.clock.now();
  const execution = request.execution;
  if (execution.leaseUntil !== null && execution.leaseUntil > now) {
    return retry(execution.leaseUntil - now + RACE_RETRY_MS, "another executor holds the lease");
  }
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
        unknownOutcomeSeen: execution.unknownOutcomeSeen || execution.outcomeUnknown,
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
    return afterFailure(deps, settings, request, classify(error, false), "pre-flight read");
  }

  if (lookup.status === "not-found") {
    if (request.execution.outcomeUnknown) {
      return complete(
        deps,
        request,
        `ev.energy answers 404 after a DELETE whose outcome was unknown: that DELETE took effect (attempt ${n})`,
      );
    }
    const seen = await deps.devices.get(request.evseId);
    return fail(
      deps,
      request,
      seen?.lifecycle === "active"
        ? "pre-flight: ev.energy answers 404 for this EVSE with the write credential while the poll still sees it (is the write credential for another account?); nothing was deleted"
        : "pre-flight: the EVSE no longer exists at ev.energy; nothing was deleted by this request",
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
  if (await deps.pause.isPaused()) return hold(deps, request);

  const sent = await writeTransition(deps, request, "send-delete", {
    actor: SYSTEM_ACTORS.executor,
    detail: `DELETE /v2/evses/${request.evseId} sent (attempt ${n})`,
    set: { execution: { ...request.execution, outcomeUnknown: true } },
  });
  if (sent === "conflict") return retry(RACE_RETRY_MS, "lost the lease before the DELETE");

  let outcome: Awaited<ReturnType<ExecutorDependencies["api"]["deleteEvse"]>>;
  try {
    outcome = await deps.api.deleteEvse(request.evseId, { retries: false });
  } catch (error) {
    return afterFailure(deps, settings, sent, classify(error, true), "DELETE");
  }
  if (outcome.status === "deleted") {
    return complete(deps, sent, `DELETE answered 204 (attempt ${n})`);
  }
  if (sent.execution.unknownOutcomeSeen) {
    return complete(
      deps,
      sent,
      `DELETE answered 404 after an earlier DELETE whose outcome was unknown: that DELETE took effect (attempt ${n})`,
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
  if (failure.kind === "permanent") return fail(deps, request, message);
  const execution = request.execution;
  // A failed pre-flight leaves an earlier unknown outcome unknown; a DELETE's own answer decides.
  const unknown = step === "DELETE" ? failure.unknown : execution.outcomeUnknown;
  const now = deps.clock.now();
  if (execution.attempts >= settings.maxAttempts && !unknown) {
    return fail(deps, request, `gave up after ${execution.attempts} attempts; last: ${message}`);
  }
  // Out of attempts with an unknown outcome: one more pre-flight read settles it (see attempt).
  const ceiling = Math.min(
    settings.maxBackoffMs,
    settings.baseBackoffMs * 2 ** Math.max(0, execution.attempts - 1),
  );
  const backoff = ceiling / 2 + deps.random() * (ceiling / 2);
  const next = Math.ceil(Math.max(now + backoff, failure.retryAt ?? 0));
  const written = await writeTransition(deps, request, "retry", {
    actor: SYSTEM_ACTORS.executor,
    detail:
      `attempt ${execution.attempts} failed: ${message}; next attempt not before ${iso(next)}` +
      (unknown ? "; the DELETE outcome is unknown and is checked first" : ""),
    set: {
      execution: {
        ...released(execution),
        outcomeUnknown: unknown,
        unknownOutcomeSeen: execution.unknownOutcomeSeen || unknown,
        nextAttemptAt: iso(next),
        lastError: message,
      },
    },
  });
  if (written === "conflict")
    return retry(RACE_RETRY_MS, "lost the lease while recording a failure");
  deps.logger.warn("decommission attempt failed; retrying", {
    requestId: request.id,
    attempt: execution.attempts,
    reason: message,
    outcomeUnknown: unknown,
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
      execution: { ...released(request.execution), outcomeUnknown: false, nextAttemptAt: null },
    },
  });
  if (written === "conflict") {
    // The DELETE is done but the lease was lost: the next attempt reads 404 and completes.
    return retry(RACE_RETRY_MS, "lost the lease while completing");
  }
  await deps.store.releaseEvse(written.evseId, written.id);
  await markDecommissioned(deps, written.evseId, now);
  await announce(deps, written);
  deps.logger.info("EVSE decommissioned", { requestId: written.id, evseId: written.evseId });
  return { kind: "done", outcome: "completed", note: detail };
}

async function fail(
  deps: WriteDependencies,
  request: DecommissionRequest,
  reason: string,
  actor: string = SYSTEM_ACTORS.executor,
): Promise<Verdict> {
  const written = await writeTransition(deps, request, "fail", {
    actor,
    detail: reason,
    set: { outcome: reason, execution: released(request.execution) },
  });
  if (written === "conflict") return retry(RACE_RETRY_MS, "lost the lease while failing");
  await deps.store.releaseEvse(written.evseId, written.id);
  await announce(deps, written);
  deps.logger.warn("decommission request failed", { requestId: written.id, reason });
  return { kind: "done", outcome: "failed", note: reason };
}

/**
 * A message the queue gave up on (it reached the dead-letter queue): the request fails with
 * the reason, unless it already ended or a newer message took over.
 */
export async function failDeadLettered(
  deps: WriteDependencies,
  message: ExecutionMessage,
  /** How often the main queue delivered it, when known (a DLQ record does not say). */
  receiveCount?: number,
): Promise<"failed" | "ignored"> {
  for (let round = 0; round < 5; round++) {
    const request = await deps.store.get(message.requestId);
    if (request === undefined) return "ignored";
    if (request.status !== "APPROVED" && request.status !== "EXECUTING") return "ignored";
    if (request.execution.token !== message.token) return "ignored";
    const { lastError, outcomeUnknown } = request.execution;
    const reason =
      `execution abandoned: the queue dead-lettered its message after ${receiveCount === undefined ? "its maximum" : receiveCount} receives` +
      (lastError ? `; last error: ${lastError}` : "") +
      (outcomeUnknown
        ? "; the outcome of the last DELETE is unknown: check the EVSE at ev.energy"
        : "");
    const verdict = await fail(deps, request, reason, SYSTEM_ACTORS.reconciler);
    if (verdict.kind === "done") return "failed";
  }
  return "ignored";
}

async function markDecommissioned(deps: ExecutorDependencies, evseId: string, now: number) {
  for (let round = 0; round < 5; round++) {
    const device = await deps.devices.get(evseId);
    if (device === undefined || device.lifecycle === "decommissioned") return;
    const at = iso(now);
    const written = await deps.devices.put(
      {
        ...device,
        lifecycle: "decommissioned",
        lastChangedAt: at,
        lastSeenAt: at,
        version: device.version + 1,
      },
      device.version,
    );
    if (written === "written") return;
  }
  deps.logger.warn("could not mark the device decommissioned (kept changing)", { evseId });
}

/** How the executor treats an error of the ev.energy client. */
function classify(error: unknown, isDelete: boolean): Failure {
  if (!(error instanceof Error)) throw error;
  switch (error.name) {
    case "RateLimited": {
      const retryAt = (error as Error & { retryAt?: unknown }).retryAt;
      return {
        kind: "transient",
        message: error.message,
        ...(typeof retryAt === "number" ? { retryAt } : {}),
        // A 429 was refused before anything happened.
        unknown: false,
      };
    }
    case "EvEnergyUnavailable":
    case "MalformedResponse":
      // Timeouts, resets and 5xx: a DELETE may have been applied.
      return { kind: "transient", message: error.message, unknown: isDelete };
    case "EvEnergyProblem": {
      const status = (error as Error & { status?: unknown }).status;
      if (typeof status === "number" && (status === 408 || status >= 500)) {
        return { kind: "transient", message: error.message, unknown: isDelete };
      }
      return { kind: "permanent", message: error.message };
    }
    case "CredentialsError":
      return { kind: "permanent", message: error.message };
    default:
      // A bug, not an upstream answer: the message is retried by the queue; a DELETE that was
      // under way stays recorded as an unknown outcome.
      throw error;
  }
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
