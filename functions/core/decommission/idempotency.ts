/**
 * Idempotency keys for creating requests: a caller retrying with the same key and body gets
 * the first answer again; the same key with another body is refused; a retry while the first
 * call still runs is told so. Keys belong to the calling person and are kept at least a day.
 */
import { createHash } from "node:crypto";
import type { Clock } from "../../ports.js";
import { IdempotencyKeyInFlight, IdempotencyKeyReused } from "./errors.js";
import type { IdempotencyStore, StoredResponse } from "./ports.js";

export interface IdempotencySettings {
  /** How long a key is remembered. */
  retentionMs: number;
  /** How long a first call may run before its key is considered abandoned. */
  inFlightMs: number;
}

export interface IdempotentCall {
  /** The calling person (see `principalKey`). */
  scope: string;
  key: string;
  /** What the call asks for; see `fingerprintOf`. */
  fingerprint: string;
}

/** A digest of what a call asks for: method, path and the parsed body in a canonical form. */
export function fingerprintOf(method: string, path: string, body: unknown): string {
  return createHash("sha256")
    .update(`${method} ${path}\n${canonicalJson(body)}`)
    .digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, item]) => `${JSON.stringify(k)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Runs `run` once per key.
 * 1. Claim the key for this call (a conditional write). If it is taken: another body → 422
 *    (IdempotencyKeyReused); still running → 409 (IdempotencyKeyInFlight); finished → its
 *    stored response, marked as replayed.
 * 2. Run the call. A refusal or failure deletes the claim again: nothing is kept of a call
 *    that changed nothing, and the caller may retry with the same key.
 * 3. Store the response under the key for the retention period.
 */
export async function runIdempotently(
  deps: { store: IdempotencyStore; clock: Clock; newToken: () => string },
  settings: IdempotencySettings,
  call: IdempotentCall,
  run: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  const owner = deps.newToken();
  const now = deps.clock.now();
  const claim = await deps.store.begin({
    ...call,
    owner,
    now,
    expiresAt: now + settings.retentionMs,
    lockUntil: now + settings.inFlightMs,
  });
  if (claim !== "started") {
    if (claim.fingerprint !== call.fingerprint) throw new IdempotencyKeyReused();
    if (claim.state === "in-progress") throw new IdempotencyKeyInFlight();
    return { ...claim.response, replayed: true };
  }
  let response: StoredResponse;
  try {
    response = await run();
  } catch (error) {
    await deps.store.release(call.scope, call.key, owner).catch(() => undefined);
    throw error;
  }
  await deps.store.complete(call.scope, call.key, owner, response);
  return { ...response, replayed: false };
}
