/**
 * The webhook path's share of ev.energy's hourly budget, and the ledger that keeps it.
 *
 * The poll's share (`BUDGET_SHARE` of the limit, 80%) is split: the webhook path gets
 * `webhookShare` of the limit, the poll what is left. The poll's own ledger counts per minute
 * and is checked before a page; the webhook path instead spends from one ledger item holding
 * its requests counted per minute over the last window (at most 62 counts, whatever the share:
 * the item stays small to read and write), and may record requests only while those counts
 * leave room in its share. Every change of it is one conditional write on a revision number,
 * so two workers cannot both take the last request (no transactions needed).
 *
 * Why this bounds every sliding hour: a spend at time t is recorded only when the minutes
 * overlapping (t - window, t] held, with it, no more than `share`; any hour-long interval ending
 * at a holds, up to its last spend t, only spends recorded in (t - window, t], which those
 * minutes cover (whole minutes count more, never less). The window is an hour plus the longest
 * a request may take after its record (`sendMarginMs`), so the bound also holds for the times
 * requests are actually sent.
 */

export const HOUR_MS = 3_600_000;

export const MINUTE_MS = 60_000;

/** The ledger item's content: requests per minute (minute start in epoch ms, ascending). */
export interface WebhookLedger {
  minutes: Array<[minuteStart: number, requests: number]>;
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

export const emptyLedger: WebhookLedger = { minutes: [], revision: 0 };

export type SpendPlan =
  | { ok: true; next: WebhookLedger; at: number }
  | { ok: false; inWindow: number };

const minuteOf = (at: number) => Math.floor(at / MINUTE_MS) * MINUTE_MS;

/** The requests the ledger counts in the minutes overlapping the window that ends at `at`. */
export function requestsInWindow(
  ledger: WebhookLedger,
  at: number,
  settings: Pick<WebhookBudgetSettings, "sendMarginMs">,
): number {
  const windowStart = at - HOUR_MS - settings.sendMarginMs;
  return ledger.minutes
    .filter(([start]) => start + MINUTE_MS > windowStart)
    .reduce((sum, [, requests]) => sum + requests, 0);
}

/**
 * Whether `cost` more requests fit in the share at `now`, and the ledger that records them (at
 * `at`): minutes out of the window are dropped (they count in no window that matters any
 * more). A clock behind the newest minute spends in that minute, so times never go backwards.
 */
export function planSpend(
  ledger: WebhookLedger,
  now: number,
  cost: number,
  share: number,
  settings: Pick<WebhookBudgetSettings, "sendMarginMs">,
): SpendPlan {
  const newest = ledger.minutes.at(-1)?.[0];
  const at = newest === undefined ? now : Math.max(now, newest);
  const inWindow = requestsInWindow(ledger, at, settings);
  if (inWindow + cost > share) return { ok: false, inWindow };
  const windowStart = at - HOUR_MS - settings.sendMarginMs;
  const minute = minuteOf(at);
  const kept = ledger.minutes.filter(([start]) => start + MINUTE_MS > windowStart);
  const last = kept.at(-1);
  const minutes: WebhookLedger["minutes"] =
    last !== undefined && last[0] === minute
      ? [...kept.slice(0, -1), [minute, last[1] + cost]]
      : [...kept, [minute, cost]];
  return { ok: true, at, next: { minutes, revision: ledger.revision + 1 } };
}

/**
 * Gives back `count` requests recorded at `at` that were never sent (a refresh reserves its
 * worst case: a token exchange and a retry after a 401). Removing a record of a request that
 * was not sent cannot make any window hold more than it did.
 */
export function planRefund(ledger: WebhookLedger, at: number, count: number): WebhookLedger {
  const minute = minuteOf(at);
  return {
    minutes: ledger.minutes.map(([start, requests]): [number, number] =>
      start === minute ? [start, Math.max(0, requests - count)] : [start, requests],
    ),
    revision: ledger.revision + 1,
  };
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
