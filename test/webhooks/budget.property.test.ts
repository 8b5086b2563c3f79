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
            const at = now;
            const result = await spendFromLedger(ledger, {
              now: () => at,
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

  it("commits one process's concurrent spends and refunds in groups, without racing itself", async () => {
    const ledger = new RacyLedger();
    let reads = 0;
    let lost = 0;
    const counting: WebhookLedgerStore = {
      read: async () => {
        reads += 1;
        // A real read takes a while: what arrives meanwhile waits for the next group.
        await new Promise((resolve) => setImmediate(resolve));
        return ledger.read();
      },
      write: async (next, expected) => {
        const written = await ledger.write(next, expected);
        if (!written) lost += 1;
        return written;
      },
    };
    const now = Date.parse("2026-03-02T08:00:00Z");
    const request = { now: () => now, cost: 4, share: 30, sendMarginMs: MARGIN_MS };
    const spends = await Promise.all(
      Array.from({ length: 10 }, () => spendFromLedger(counting, request)),
    );
    // The first spend went alone; the nine that arrived while it was in flight, as one group.
    expect(reads).toBe(2);
    // In arrival order, until the share is reached: 7 × 4 = 28 of 30.
    expect(spends.map((spend) => spend.spent)).toEqual([
      ...Array(7).fill(true),
      false,
      false,
      false,
    ]);
    expect(spends.at(-1)).toEqual({ spent: false, inWindow: 28 });
    await Promise.all(
      spends.map((spend) => (spend.spent ? refundToLedger(counting, spend.at, 3) : undefined)),
    );
    expect(reads).toBe(4);
    expect(lost).toBe(0);
    expect(requestsInWindow(ledger.state, now, { sendMarginMs: MARGIN_MS })).toBe(7);
    // A refund makes room for the spends of its own group: while one spend's read is in flight,
    // a refund and two spends arrive, and are planned together, the refund first.
    const [alone, refunded, fits, refused] = await Promise.all([
      spendFromLedger(counting, { ...request, cost: 1 }),
      refundToLedger(counting, now, 3),
      spendFromLedger(counting, { ...request, cost: 24 }),
      spendFromLedger(counting, { ...request, cost: 24 }),
    ]);
    expect(reads).toBe(6);
    expect(alone).toEqual({ spent: true, at: now });
    expect(refunded).toBeUndefined();
    // 7 + 1 - 3 + 24 = 29: it fits only because the refund was planned before it.
    expect(fits).toEqual({ spent: true, at: now });
    expect(refused).toEqual({ spent: false, inWindow: 29 });
    expect(requestsInWindow(ledger.state, now, { sendMarginMs: MARGIN_MS })).toBe(29);
  });

  it("records a spend at the time it is planned, not the time it was asked for", async () => {
    const ledger = new RacyLedger();
    let clock = Date.parse("2026-03-02T08:00:40Z");
    // Each read takes 30 s of the clock: the second spend waits for the first's group.
    const slow: WebhookLedgerStore = {
      read: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        clock += 30_000;
        return ledger.read();
      },
      write: (next, expected) => ledger.write(next, expected),
    };
    const request = { now: () => clock, cost: 1, share: 10, sendMarginMs: MARGIN_MS };
    const [first, second] = await Promise.all([
      spendFromLedger(slow, request),
      spendFromLedger(slow, request),
    ]);
    expect(first).toEqual({ spent: true, at: Date.parse("2026-03-02T08:01:10Z") });
    expect(second).toEqual({ spent: true, at: Date.parse("2026-03-02T08:01:40Z") });
  });

  it("never lets a sliding hour hold more than the share when two processes' groups race", async () => {
    const spendStep = fc.record({
      second: fc.boolean(),
      cost: fc.integer({ min: 1, max: 4 }),
      sentShare: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 4, max: 40 }),
        fc.array(
          fc.record({
            advanceMs: fc.integer({ min: 0, max: 20 * 60_000 }),
            spends: fc.array(spendStep, { minLength: 1, maxLength: 10 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        async (scheduler, share, steps) => {
          const shared = new RacyLedger();
          // Two processes, each with its own committer, meeting only at the item: every read
          // and write lands when the scheduler says.
          const processes: WebhookLedgerStore[] = [0, 1].map(() => ({
            read: async () => {
              await scheduler.schedule(Promise.resolve());
              return shared.read();
            },
            write: async (next, expected) => {
              await scheduler.schedule(Promise.resolve());
              return shared.write(next, expected);
            },
          }));
          const sent: number[] = [];
          let contended = false;
          let now = Date.parse("2026-03-02T08:00:00Z");
          for (const { advanceMs, spends } of steps) {
            now += advanceMs;
            const at = now;
            const work = spends.map(async ({ second, cost, sentShare }) => {
              const store = processes[second ? 1 : 0] as WebhookLedgerStore;
              const result = await spendFromLedger(store, {
                now: () => at,
                cost,
                share,
                sendMarginMs: MARGIN_MS,
              }).catch(() => {
                contended = true;
                return undefined;
              });
              if (result === undefined) return;
              if (!result.spent) {
                expect(result.inWindow + cost).toBeGreaterThan(share);
                return;
              }
              const used = Math.round(sentShare * cost);
              for (let i = 0; i < used; i += 1) sent.push(result.at);
              await refundToLedger(store, result.at, cost - used);
            });
            await scheduler.waitFor(Promise.all(work));
          }
          expect(busiestWindow(sent, HOUR_MS)).toBeLessThanOrEqual(share);
          // Each minute the ledger keeps counts exactly what was sent in it: every reservation
          // not sent was given back, none twice (unless a group lost every round: then more).
          for (const [minute, requests] of shared.state.minutes) {
            const inMinute = sent.filter((t) => t >= minute && t < minute + 60_000).length;
            if (contended) expect(requests).toBeGreaterThanOrEqual(inMinute);
            else expect(requests).toBe(inMinute);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("measures the busiest sliding hour", () => {
    const t = Date.parse("2026-03-02T08:00:00Z");
    expect(busiestWindow([])).toBe(0);
    expect(busiestWindow([t, t + HOUR_MS - 1, t + HOUR_MS])).toBe(2);
    expect(busiestWindow([t + 5, t, t + 10, t + 2 * HOUR_MS])).toBe(3);
  });
});
