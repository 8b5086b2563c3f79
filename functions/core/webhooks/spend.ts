/**
 * Spending from the webhook ledger over its port: read, plan, conditional write, and again when
 * another worker wrote first. Contention can only delay a spend, never let two take one request.
 *
 * One process's spends and refunds are committed in groups: while one read-plan-write is in
 * flight, whatever arrives waits, and the next round plans all of it against one read and
 * commits it with one conditional write. The records of a batch neither race each other for the
 * one item (and back off) nor queue up one round trip each; the conditional write still settles
 * races between processes.
 */
import type { WebhookLedger } from "./budget.js";
import { planRefund, planSpend } from "./budget.js";
import type { WebhookLedgerStore } from "./ports.js";

/** Rounds of read-plan-write before a group gives up and lets its messages come back later. */
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

export interface SpendRequest {
  /**
   * The time the spend is recorded at, read when it is planned (not when it was asked for): a
   * spend that waited for a group or backed off is recorded when it is written, so its request
   * still leaves within the margin of its record.
   */
  now: () => number;
  cost: number;
  share: number;
  sendMarginMs: number;
}

type Operation =
  | { kind: "spend"; request: SpendRequest; settle: (result: SpendResult) => void }
  | { kind: "refund"; at: number; count: number; settle: () => void };

interface Pending {
  operation: Operation;
  backoff: Backoff;
  fail: (error: unknown) => void;
}

/** One committer per ledger store in this process. */
const committers = new WeakMap<WebhookLedgerStore, GroupCommitter>();

class GroupCommitter {
  #waiting: Pending[] = [];
  #running = false;

  constructor(private readonly store: WebhookLedgerStore) {}

  submit(pending: Pending): void {
    this.#waiting.push(pending);
    if (!this.#running) void this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting;
        this.#waiting = [];
        try {
          await this.#commit(group);
        } catch (error) {
          for (const pending of group) pending.fail(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * Plans the group against one read, refunds first (requests that were never sent make room),
   * then spends in arrival order, and writes it all at once; a lost write plans again.
   */
  async #commit(group: Pending[]): Promise<void> {
    const backoff = group[0]?.backoff ?? noWait;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      if (round > 0) await backoff(round);
      const read = await this.store.read();
      let ledger: WebhookLedger = read;
      const settlements: Array<() => void> = [];
      for (const { operation } of group) {
        if (operation.kind !== "refund") continue;
        ledger = planRefund(ledger, operation.at, operation.count);
        settlements.push(operation.settle);
      }
      for (const { operation } of group) {
        if (operation.kind !== "spend") continue;
        const { request } = operation;
        const plan = planSpend(ledger, request.now(), request.cost, request.share, request);
        if (plan.ok) ledger = plan.next;
        const result: SpendResult = plan.ok
          ? { spent: true, at: plan.at }
          : { spent: false, inWindow: plan.inWindow };
        settlements.push(() => operation.settle(result));
      }
      const changed = ledger !== read;
      if (
        !changed ||
        (await this.store.write(
          { minutes: ledger.minutes, revision: read.revision + 1 },
          read.revision,
        ))
      ) {
        for (const settle of settlements) settle();
        return;
      }
    }
    // Spends fail and come back later; refunds are best effort: left counted, the safe side.
    for (const { operation, fail } of group) {
      if (operation.kind === "spend") fail(new LedgerContended());
      else operation.settle();
    }
  }
}

function submit<T>(
  store: WebhookLedgerStore,
  backoff: Backoff,
  operation: (settle: (value: T) => void) => Operation,
): Promise<T> {
  let committer = committers.get(store);
  if (!committer) {
    committer = new GroupCommitter(store);
    committers.set(store, committer);
  }
  const target = committer;
  return new Promise<T>((resolve, reject) => {
    target.submit({ operation: operation(resolve), backoff, fail: reject });
  });
}

/** Records `cost` requests at `now` if they fit in `share`; rejects with LedgerContended. */
export function spendFromLedger(
  store: WebhookLedgerStore,
  request: SpendRequest,
  backoff: Backoff = noWait,
): Promise<SpendResult> {
  return submit<SpendResult>(store, backoff, (settle) => ({ kind: "spend", request, settle }));
}

/**
 * Gives back requests reserved at `at` but never sent. Best effort: a refund lost to contention
 * leaves them counted, the safe side.
 */
export function refundToLedger(
  store: WebhookLedgerStore,
  at: number,
  count: number,
  backoff: Backoff = noWait,
): Promise<void> {
  if (count <= 0) return Promise.resolve();
  return submit<void>(store, backoff, (settle) => ({
    kind: "refund",
    at,
    count,
    settle: () => settle(undefined),
  }));
}
