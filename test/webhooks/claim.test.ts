import { describe, expect, it } from "vitest";
import {
  CLAIM_RETENTION_MS,
  type Claim,
  decideClaim,
  finishedClaim,
  retryingClaim,
} from "../../functions/core/webhooks/claim.js";

const settings = { leaseMs: 60_000, retentionMs: CLAIM_RETENTION_MS };
const T0 = Date.parse("2026-03-02T08:00:00Z");

function taken(existing: Claim | undefined, now: number) {
  const decision = decideClaim(existing, now, settings);
  if (decision.action !== "take") throw new Error(`expected to take, got ${decision.reason}`);
  return decision;
}

describe("the dedupe claim on svix-id", () => {
  it("takes a new id for 7 days, leased to the delivery working on it", () => {
    const decision = taken(undefined, T0);
    expect(decision).toEqual({
      action: "take",
      expectedRevision: null,
      next: {
        state: "processing",
        attempt: 1,
        leaseUntil: T0 + 60_000,
        revision: 1,
        expiresAt: Math.ceil((T0 + CLAIM_RETENTION_MS) / 1000),
      },
    });
  });

  it("makes every later delivery of a finished message a duplicate, for 7 days", () => {
    const done = finishedClaim(taken(undefined, T0).next, "refreshed");
    expect(decideClaim(done, T0 + 1000, settings)).toEqual({
      action: "duplicate",
      reason: "done",
    });
    expect(decideClaim(done, T0 + CLAIM_RETENTION_MS - 1000, settings).action).toBe("duplicate");
    // Past its retention the id is forgotten (TTL deletes it late; the code does not wait).
    expect(decideClaim(done, T0 + CLAIM_RETENTION_MS + 1000, settings).action).toBe("take");
  });

  it("leaves a message in flight to its owner, and takes it over once the owner's lease ran out", () => {
    const processing = taken(undefined, T0).next;
    expect(decideClaim(processing, T0 + 59_000, settings)).toEqual({
      action: "duplicate",
      reason: "in-flight",
    });
    const takeover = taken(processing, T0 + 61_000);
    expect(takeover.expectedRevision).toBe(1);
    expect(takeover.next).toMatchObject({ state: "processing", attempt: 1, revision: 2 });
    // The id is still remembered from its first delivery, not from the takeover.
    expect(takeover.next.expiresAt).toBe(processing.expiresAt);
  });

  it("holds a scheduled retry until it is due, then lets one delivery take it as the last attempt", () => {
    const processing = taken(undefined, T0).next;
    if (processing.state !== "processing") throw new Error("processing expected");
    const retrying = retryingClaim(processing, T0 + 30_000);
    expect(decideClaim(retrying, T0 + 29_000, settings)).toEqual({
      action: "duplicate",
      reason: "retry-pending",
    });
    const retry = taken(retrying, T0 + 30_000);
    expect(retry.next).toMatchObject({ state: "processing", attempt: 2, revision: 3 });
    expect(decideClaim(retry.next, T0 + 31_000, settings).action).toBe("duplicate");
  });
});
