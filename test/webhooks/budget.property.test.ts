/**
 * The webhook share under random storms: spends of random cost at random times, each sending
 * some of what it reserved (the rest given back), some racing a rival worker that writes the
 * ledger between their read and their conditional write. Whatever the interleaving, no sliding
 * hour holds more requests sent than the share, and a spend is refused only when it would not fit.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  busiestWindow,
  emptyLedger,
  HOUR_MS,
  planSpend,
  pollShareBeside,
  requestsInWindow,
  type WebhookLedger,
  webhookShareOf,
} from "../../functions/core/webhooks/budget.js";
import type { WebhookLedgerStore } from "../../functions/core/webhooks/ports.js";
import { refundToLedger, spendFromLedger } from "../../functions/core/webhooks/spend.js";

const MARGIN_MS = 10_000;

/** A ledger with DynamoDB's conditional-put semantics; `beforeWrite` lets a rival in first. */
class RacyLedger implements WebhookLedgerStore {
  state: WebhookLedger = emptyLedger;
  beforeWrite: (() => void) | undefined;
  async read() {
    return this.state;
  }
  async write(next: WebhookLedger, expectedRevision: number) {
    const rival = this.beforeWrite;
    this.beforeWrite = undefined;
    rival?.();
    if (this.state.revision !== expectedRevision) return false;
    this.state = next;
    return true;
  }
}

const step = fc.record({
  advanceMs: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 20 * 60_000 })),
  cost: fc.integer({ min: 1, max: 4 }),
  sentShare: fc.double({ min: 0, max: 1, noNaN: true }),
  sendDelayMs: fc.integer({ min: 0, max: MARGIN_MS }),
  rival: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
});

describe("the webhook share of the hourly budget", () => {
  it("splits the poll's share: the poll keeps what the webhook path does not get", () => {
    const settings = { webhookShare: 0.1, defaultLimit: 1000, sendMarginMs: MARGIN_MS };
    expect(webhookShareOf(settings, null)).toBe(100);
    expect(webhookShareOf(settings, 5000)).toBe(500);
    expect(pollShareBeside(0.8, 0.1)).toBeCloseTo(0.7);
  });

  it("never lets a sliding hour hold more requests sent than the share, however spends race", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 4, max: 40 }),
        fc.array(step, { minLength: 1, maxLength: 120 }),
        async (share, steps) => {
          const ledger = new RacyLedger();
          const sent: number[] = [];
          let now = Date.parse("2026-03-02T08:00:00Z");
          for (const s of steps) {
            now += s.advanceMs;
            if (s.rival !== undefined) {
              const rivalCost = s.rival;
              ledger.beforeWrite = () => {
                const plan = planSpend(ledger.state, now, rivalCost, share, {
                  sendMarginMs: MARGIN_MS,
                });
                if (!plan.ok) return;
                ledger.state = plan.next;
                for (let i = 0; i < rivalCost; i += 1) sent.push(now + s.sendDelayMs);
              };
            }
            const windowBefore = requestsInWindow(ledger.state, now, { sendMarginMs: MARGIN_MS });
            const result = await spendFromLedger(ledger, {
              now,
              cost: s.cost,
              share,
              sendMarginMs: MARGIN_MS,
            });
            if (!result.spent) {
              // Refused only when it would not have fitted, counting the window's minutes whole
              // (a rival may have filled it).
              expect(result.inWindow + s.cost).toBeGreaterThan(share);
              expect(Math.max(result.inWindow, windowBefore) + s.cost).toBeGreaterThan(share);
              continue;
            }
            const used = Math.round(s.sentShare * s.cost);
            for (let i = 0; i < used; i += 1) sent.push(result.at + s.sendDelayMs);
            await refundToLedger(ledger, result.at, s.cost - used);
          }
          expect(busiestWindow(sent, HOUR_MS)).toBeLessThanOrEqual(share);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses past the share and admits again once the oldest minute leaves the window", () => {
    const at = Date.parse("2026-03-02T08:00:00Z");
    const settings = { sendMarginMs: MARGIN_MS };
    let ledger = emptyLedger;
    for (let i = 0; i < 3; i += 1) {
      const plan = planSpend(ledger, at + i * 60_000, 1, 3, settings);
      if (!plan.ok) throw new Error("within the share");
      ledger = plan.next;
    }
    expect(planSpend(ledger, at + HOUR_MS, 1, 3, settings)).toEqual({ ok: false, inWindow: 3 });
    // The first minute counts whole until the window has left all of it.
    expect(planSpend(ledger, at + HOUR_MS + MARGIN_MS + 59_999, 1, 3, settings).ok).toBe(false);
    const later = planSpend(ledger, at + HOUR_MS + MARGIN_MS + 60_000, 1, 3, settings);
    expect(later.ok && later.next.minutes).toEqual([
      [at + 60_000, 1],
      [at + 120_000, 1],
      [at + HOUR_MS + 60_000, 1],
    ]);
  });

  it("counts requests in their minute, and a clock that lags the newest minute in that minute", () => {
    const at = Date.parse("2026-03-02T08:00:30Z");
    const first = planSpend(emptyLedger, at, 3, 10, { sendMarginMs: 0 });
    if (!first.ok) throw new Error("within the share");
    const same = planSpend(first.next, at + 20_000, 2, 10, { sendMarginMs: 0 });
    if (!same.ok) throw new Error("within the share");
    expect(same.next.minutes).toEqual([[Date.parse("2026-03-02T08:00:00Z"), 5]]);
    const lagging = planSpend(same.next, at - 120_000, 1, 10, { sendMarginMs: 0 });
    expect(lagging.ok && lagging.next.minutes).toEqual([[Date.parse("2026-03-02T08:00:00Z"), 6]]);
  });

  it("keeps one count per minute of the window, however large the share", () => {
    let ledger = emptyLedger;
    let now = Date.parse("2026-03-02T08:00:00Z");
    for (let i = 0; i < 5_000; i += 1) {
      now += 2_000;
      const plan = planSpend(ledger, now, 1, 100_000, { sendMarginMs: MARGIN_MS });
      if (!plan.ok) throw new Error("within the share");
      ledger = plan.next;
    }
    expect(ledger.minutes.length).toBeLessThanOrEqual(62);
    expect(requestsInWindow(ledger, now, { sendMarginMs: MARGIN_MS })).toBeGreaterThanOrEqual(
      1_800,
    );
  });

  it("lets one process's spends take turns on the ledger instead of racing for it", async () => {
    let lost = 0;
    const ledger = new RacyLedger();
    // A real read takes a while: reads held until all ten are under way, as racers' would be.
    let pending: Array<() => void> = [];
    const counting: WebhookLedgerStore = {
      read: async () => {
        await new Promise<void>((resolve) => {
          pending.push(resolve);
          setImmediate(() => {
            const waiting = pending;
            pending = [];
            for (const release of waiting) release();
          });
        });
        return ledger.read();
      },
      write: async (next, expected) => {
        const written = await ledger.write(next, expected);
        if (!written) lost += 1;
        return written;
      },
    };
    const now = Date.parse("2026-03-02T08:00:00Z");
    const spends = await Promise.all(
      Array.from({ length: 10 }, () =>
        spendFromLedger(counting, { now, cost: 4, share: 100, sendMarginMs: MARGIN_MS }),
      ),
    );
    await Promise.all(
      spends.map((spend) => (spend.spent ? refundToLedger(counting, spend.at, 3) : undefined)),
    );
    expect(spends.every((spend) => spend.spent)).toBe(true);
    expect(lost).toBe(0);
    expect(requestsInWindow(ledger.state, now, { sendMarginMs: MARGIN_MS })).toBe(10);
  });

  it("measures the busiest sliding hour", () => {
    const t = Date.parse("2026-03-02T08:00:00Z");
    expect(busiestWindow([])).toBe(0);
    expect(busiestWindow([t, t + HOUR_MS - 1, t + HOUR_MS])).toBe(2);
    expect(busiestWindow([t + 5, t, t + 10, t + 2 * HOUR_MS])).toBe(3);
  });
});
