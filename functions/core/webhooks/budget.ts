/**
 * The webhook path's share of ev.energy's hourly budget, and the ledger that keeps it.
 *
 * The poll's share (`BUDGET_SHARE` of the limit, 80%) is split: the webhook path gets
 * `webhookShare` of the limit, the poll what is left. The poll's own ledger counts per minute
 * and is checked before a page; the webhook path instead spends from a ledger that holds the
 * time of every request it recorded in the last window, and may record one only while fewer
 * than its share lie in that window. Every change of it is one conditional write on a revision
 * number, so two workers cannot both take the last request (no transactions needed).
 *
 * Why this bounds every sliding hour: a spend at time t is recorded only when the window
 * (t - window, t] held fewer than `share` spends; any hour-long interval ending at a is, up to
 * its last spend t, inside (t - window, t], so it holds at most `share` spends. The window is
 * an hour plus the longest a request may take after its record (`sendMarginMs`), so the bound
 * also holds for the times requests are actually sent.
 */

export const HOUR_MS = 3_600_000;

/** The ledger item's content: spend times (epoch ms, ascending) and its revision. */
export interface WebhookLedger {
  spentAt: number[];
  /** Bumped by every write; each write is conditional on the revision it read (0: no item). */
  revision: number;
}

export interface WebhookBudgetSettings {
  /** Fraction of the rate limit the webhook path may use per rolling hour (0.1). */
  webhookShare: number;
  /** Assumed `X-RateLimit-Limit` until ev.energy says otherwise. */
  defaultLimit: number;
  /** The longest from a spend's record to its request being sent (the request timeout). */
  sendMarginMs: number;
}

/** The webhook path's requests per rolling hour at `limit`. */
export function webhookShareOf(settings: WebhookBudgetSettings, limit: number | null): number {
  return Math.floor(settings.webhookShare * (limit ?? settings.defaultLimit));
}

/**
 * The poll's share once the webhook path has its own: `pollShare - webhookShare` of the limit.
 * Configuration guarantees it stays positive.
 */
export function pollShareBeside(pollShare: number, webhookShare: number): number {
  return pollShare - webhookShare;
}

export const emptyLedger: WebhookLedger = { spentAt: [], revision: 0 };

export type SpendPlan = { ok: true; next: WebhookLedger } | { ok: false; inWindow: number };

/**
 * Whether `cost` more requests fit in the share at `now`, and the ledger that records them:
 * older spends are dropped (they count in no window that matters any more). A clock behind the
 * newest record spends at that record's time instead, so times never go backwards.
 */
export function planSpend(
  ledger: WebhookLedger,
  now: number,
  cost: number,
  share: number,
  settings: Pick<WebhookBudgetSettings, "sendMarginMs">,
): SpendPlan {
  const at = Math.max(now, ledger.spentAt.at(-1) ?? now);
  const windowStart = at - HOUR_MS - settings.sendMarginMs;
  const recent = ledger.spentAt.filter((time) => time > windowStart);
  if (recent.length + cost > share) return { ok: false, inWindow: recent.length };
  return {
    ok: true,
    next: {
      spentAt: [...recent, ...Array.from({ length: cost }, () => at)],
      revision: ledger.revision + 1,
    },
  };
}

/**
 * Gives back `count` requests recorded at `at` that were never sent (a refresh reserves its
 * worst case: a token exchange and a retry after a 401). Removing a record of a request that
 * was not sent cannot make any window hold more than it did.
 */
export function planRefund(ledger: WebhookLedger, at: number, count: number): WebhookLedger {
  let left = count;
  const spentAt: number[] = [];
  for (let i = ledger.spentAt.length - 1; i >= 0; i -= 1) {
    const time = ledger.spentAt[i] as number;
    if (left > 0 && time === at) left -= 1;
    else spentAt.unshift(time);
  }
  return { spentAt, revision: ledger.revision + 1 };
}

/** The most spends any `windowMs`-long interval holds (for tests and the benchmark). */
export function busiestWindow(times: readonly number[], windowMs = HOUR_MS): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last += 1) {
    while ((sorted[last] as number) - (sorted[first] as number) >= windowMs) first += 1;
    best = Math.max(best, last - first + 1);
  }
  return best;
}
