/**
 * The sandbox's stand-in for SQS and the worker's event source: batches of up to ten, one per
 * free worker (two, as the deployed event source runs two Lambdas), retries after their delay,
 * failures after the visibility timeout, and a message dropped after its fifth receive.
 */
import { describe, expect, it } from "vitest";
import type { WebhookResult } from "../../functions/core/webhooks/handle-webhook.js";
import type { QueuedWebhook } from "../../functions/core/webhooks/ports.js";
import { ManualClock } from "../../local/manual-clock.js";
import { LocalWebhookQueue } from "../../local/webhook-service.js";
import { CapturingLogger } from "../ev-energy/helpers.js";

const refreshed: WebhookResult = { outcome: "refreshed", events: [] };

/** A worker whose deliveries wait until the test lets them finish. */
class HeldWorker {
  readonly batches: string[][] = [];
  #current: string[] | undefined;
  #release: Array<() => void> = [];
  constructor(private readonly result: (id: string) => WebhookResult | Error = () => refreshed) {}

  async handle(message: QueuedWebhook): Promise<WebhookResult> {
    if (!this.#current) {
      this.#current = [];
      this.batches.push(this.#current);
      // A batch is what is handed over in one go: the next message after a yield starts anew.
      setImmediate(() => {
        this.#current = undefined;
      });
    }
    this.#current.push(message.messageId);
    await new Promise<void>((resolve) => this.#release.push(resolve));
    const outcome = this.result(message.messageId);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  get inFlight(): number {
    return this.#release.length;
  }

  finishAll(): void {
    const waiting = this.#release;
    this.#release = [];
    for (const release of waiting) release();
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function message(n: number, receivedAt: number): QueuedWebhook {
  return { messageId: `msg_${n}`, receivedAt, body: {} };
}

describe("the sandbox's webhook queue", () => {
  it("hands a batch of up to ten to each free worker, and settles once all due are done", async () => {
    const clock = new ManualClock();
    const workers = [new HeldWorker(), new HeldWorker()];
    const queue = new LocalWebhookQueue(workers, {
      clock,
      logger: new CapturingLogger(),
      immediate: false,
    });
    for (let n = 0; n < 25; n += 1) await queue.enqueue(message(n, clock.now()));
    let settled = false;
    const done = queue.deliverDue().then(() => {
      settled = true;
    });
    await tick();
    // Two batches of ten at once, one per worker; the last five wait for a free worker.
    expect(workers.map((worker) => worker.inFlight)).toEqual([10, 10]);
    workers[1]?.finishAll();
    await tick();
    await tick();
    expect(workers.map((worker) => worker.inFlight)).toEqual([10, 5]);
    expect(settled).toBe(false);
    workers[0]?.finishAll();
    workers[1]?.finishAll();
    await done;
    expect(settled).toBe(true);
    expect(queue.waiting).toBe(0);
    expect(workers.flatMap((worker) => worker.batches.map((batch) => batch.length))).toEqual([
      10, 10, 5,
    ]);
  });

  it("brings a retry back after its delay, a failure after the visibility timeout, and drops it after five receives", async () => {
    const clock = new ManualClock();
    const logger = new CapturingLogger();
    let retries = 0;
    const worker = new HeldWorker((id) => {
      if (id !== "msg_0") return new Error("worker failed");
      retries += 1;
      return retries === 1 ? { outcome: "retry-later", delayMs: 60_000, events: [] } : refreshed;
    });
    const queue = new LocalWebhookQueue([worker], { clock, logger, immediate: false });
    await queue.enqueue(message(0, clock.now()));
    await queue.enqueue(message(1, clock.now()));
    const deliver = async () => {
      const done = queue.deliverDue();
      await tick();
      worker.finishAll();
      await done;
    };
    await deliver();
    expect(worker.batches.flat()).toEqual(["msg_0", "msg_1"]);
    clock.advance(59_999);
    await queue.deliverDue();
    expect(worker.batches.flat()).toHaveLength(2);
    clock.advance(1);
    await deliver();
    expect(worker.batches.at(-1)).toEqual(["msg_0"]);
    for (let receive = 2; receive <= 5; receive += 1) {
      clock.advance(180_000);
      await deliver();
    }
    expect(worker.batches.flat().filter((id) => id === "msg_0")).toHaveLength(2);
    expect(worker.batches.flat().filter((id) => id === "msg_1")).toHaveLength(5);
    expect(queue.waiting).toBe(0);
    expect(
      logger.lines.filter((line) => line.message === "webhook dead-lettered").map((l) => l.extra),
    ).toEqual([[{ messageId: "msg_1" }]]);
  });
});
