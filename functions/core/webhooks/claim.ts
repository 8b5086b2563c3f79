/**
 * Deduplication on `svix-id`: one claim per webhook message, a small state machine rather than
 * a bare "seen" marker, so that a worker dying at any step leaves the message to be finished by
 * its redelivery, and a duplicate does nothing.
 *
 *   (none) ──take──▶ processing ──finish──▶ done
 *                      │   ▲
 *          retry-later │   │ taken again once due
 *                      ▼   │
 *                    retrying
 *
 * - `processing` holds a lease. A delivery that finds a live lease is a duplicate (the owner's
 *   own message comes back if the owner dies, since it is deleted only once finished); one that
 *   finds an expired lease takes the claim over and does the work again. Doing it again is
 *   safe: the refresh is within the share, and detection and the versioned write derive the
 *   same event id for the same change.
 * - `retrying`: the refreshed sample predated the sub-session, so one later attempt is due (the
 *   same message, kept hidden on the queue until then). Before `dueAt` every delivery is a
 *   duplicate; from then on the first delivery takes it, and the attempt is the last.
 * - `done`: terminal for the retention (7 days); every delivery is a duplicate.
 * A claim past its `expiresAt` counts as absent (DynamoDB's TTL deletes it late, or never
 * locally). Every transition is one conditional write on the claim's revision.
 */

export type ClaimOutcome =
  /** The refresh ran and detection decided (a change published and written, or none). */
  | "refreshed"
  /** The sub-session named no EVSE: nothing to refresh. */
  | "no-evse"
  /** The webhook share of the budget was spent: left to the next sweep. */
  | "budget"
  /** ev.energy answered 429: left to the next sweep. */
  | "rate-limited"
  /** ev.energy no longer knows the EVSE: left to the sweep, which removes it. */
  | "not-found"
  /** A verified body we cannot read: logged, left to the sweep. */
  | "unreadable";

export type Claim =
  | {
      state: "processing";
      attempt: number;
      leaseUntil: number;
      revision: number;
      expiresAt: number;
    }
  | { state: "retrying"; attempt: number; dueAt: number; revision: number; expiresAt: number }
  | { state: "done"; outcome: ClaimOutcome; revision: number; expiresAt: number };

export interface ClaimSettings {
  /** Longer than one attempt can take (the worker's timeout). */
  leaseMs: number;
  /** How long a message id is remembered: Svix retries span more than a day. */
  retentionMs: number;
}

export const CLAIM_RETENTION_MS = 7 * 86_400_000;

export type ClaimDecision =
  | { action: "take"; next: Claim; expectedRevision: number | null }
  | { action: "duplicate"; reason: "done" | "in-flight" | "retry-pending" };

/** What a delivery of the message at `now` does with its claim. */
export function decideClaim(
  existing: Claim | undefined,
  now: number,
  settings: ClaimSettings,
): ClaimDecision {
  const live = existing !== undefined && existing.expiresAt * 1000 > now ? existing : undefined;
  const take = (attempt: number): ClaimDecision => ({
    action: "take",
    expectedRevision: existing?.revision ?? null,
    next: {
      state: "processing",
      attempt,
      leaseUntil: now + settings.leaseMs,
      revision: (existing?.revision ?? 0) + 1,
      // A takeover keeps the first delivery's retention: the id is remembered 7 days from then.
      expiresAt: live?.expiresAt ?? Math.ceil((now + settings.retentionMs) / 1000),
    },
  });
  if (live === undefined) return take(1);
  switch (live.state) {
    case "done":
      return { action: "duplicate", reason: "done" };
    case "processing":
      return live.leaseUntil > now
        ? { action: "duplicate", reason: "in-flight" }
        : take(live.attempt);
    case "retrying":
      return now >= live.dueAt
        ? take(live.attempt)
        : { action: "duplicate", reason: "retry-pending" };
  }
}

/** The claim once its work is finished. */
export function finishedClaim(claim: Claim, outcome: ClaimOutcome): Claim {
  return { state: "done", outcome, revision: claim.revision + 1, expiresAt: claim.expiresAt };
}

/** The claim once one more attempt is scheduled for `dueAt`. */
export function retryingClaim(claim: Claim & { state: "processing" }, dueAt: number): Claim {
  return {
    state: "retrying",
    attempt: claim.attempt + 1,
    dueAt,
    revision: claim.revision + 1,
    expiresAt: claim.expiresAt,
  };
}
