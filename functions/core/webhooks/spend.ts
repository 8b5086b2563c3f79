/**
 * Spending from the webhook ledger over its port: read, plan, conditional write, and again when
 * another worker wrote first. Contention can only delay a spend, never let two take one request.
 */
import type { WebhookLedger } from "./budget.js";
import { planRefund, planSpend } from "./budget.js";
import type { WebhookLedgerStore } from "./ports.js";

/** Rounds of read-plan-write before a worker gives up and lets its message come back later. */
const MAX_ROUNDS = 12;

/** Waits before round `round` (1, 2, …) after a lost write: jittered, so racers spread out. */
export type Backoff = (round: number) => Promise<void>;
const noWait: Backoff = async () => undefined;

export class LedgerContended extends Error {
  override readonly name = "LedgerContended";
  constructor() {
    super(`the webhook ledger changed under ${MAX_ROUNDS} attempts in a row; retry later`);
  }
}

export type SpendResult = { spent: true; at: number } | { spent: false; inWindow: number };

const turns = new WeakMap<WebhookLedgerStore, Promise<unknown>>();

/**
 * One read-plan-write at a time per ledger in this process: the records of a batch take turns
 * instead of racing each other for the one item (and backing off); the conditional write still
 * settles races between processes.
 */
function inTurn<T>(store: WebhookLedgerStore, work: () => Promise<T>): Promise<T> {
  const next = (turns.get(store) ?? Promise.resolve()).then(work, work);
  turns.set(
    store,
    next.catch(() => undefined),
  );
  return next;
}

/** Records `cost` requests at `now` if they fit in `share`; throws LedgerContended. */
export function spendFromLedger(
  store: WebhookLedgerStore,
  request: { now: number; cost: number; share: number; sendMarginMs: number },
  backoff: Backoff = noWait,
): Promise<SpendResult> {
  return inTurn(store, () => spend(store, request, backoff));
}

async function spend(
  store: WebhookLedgerStore,
  request: { now: number; cost: number; share: number; sendMarginMs: number },
  backoff: Backoff,
): Promise<SpendResult> {
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    if (round > 0) await backoff(round);
    const ledger = await store.read();
    const plan = planSpend(ledger, request.now, request.cost, request.share, request);
    if (!plan.ok) return { spent: false, inWindow: plan.inWindow };
    if (await store.write(plan.next, ledger.revision)) {
      return { spent: true, at: plan.at };
    }
  }
  throw new LedgerContended();
}

/**
 * Gives back requests reserved at `at` but never sent. Best effort: a refund lost to contention
 * leaves them counted, the safe side.
 */
export async function refundToLedger(
  store: WebhookLedgerStore,
  at: number,
  count: number,
  backoff: Backoff = noWait,
): Promise<void> {
  if (count <= 0) return;
  await inTurn(store, async () => {
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      if (round > 0) await backoff(round);
      const ledger: WebhookLedger = await store.read();
      if (await store.write(planRefund(ledger, at, count), ledger.revision)) return;
    }
  });
}
