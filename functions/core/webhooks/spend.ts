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

/** Records `cost` requests at `now` if they fit in `share`; throws LedgerContended. */
export async function spendFromLedger(
  store: WebhookLedgerStore,
  request: { now: number; cost: number; share: number; sendMarginMs: number },
  backoff: Backoff = noWait,
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
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    if (round > 0) await backoff(round);
    const ledger: WebhookLedger = await store.read();
    if (await store.write(planRefund(ledger, at, count), ledger.revision)) return;
  }
}
