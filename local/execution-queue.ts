/**
 * The local stand-in for the executor's SQS queue and its dead-letter queue, driven by the
 * injected clock: a received message is invisible for the visibility timeout; the consumer's
 * retry verdict sets its visibility like ChangeMessageVisibility; a message received more than
 * `maxReceives` times moves to the dead-letter queue, whose consumer is then called (like the
 * DLQ's event source on AWS; a retry outcome delivers it again after its delay). Nothing is
 * delivered until `deliverDue` or `drain` is called.
 */
import type { DeadLetterOutcome } from "../functions/core/decommission/dead-letters.js";
import type { Verdict } from "../functions/core/decommission/execute.js";
import type { ExecutionMessage, ExecutionQueue } from "../functions/core/decommission/ports.js";
import type { Clock, Logger } from "../functions/ports.js";

export interface LocalQueueOptions {
  clock: Clock;
  /** Default 60 s, like the deployed queue. */
  visibilityTimeoutMs?: number;
  /** Default 20. */
  maxReceives?: number;
  logger?: Logger;
}

export type Consumer = (message: ExecutionMessage, receiveCount: number) => Promise<Verdict>;
export type DeadLetterConsumer = (
  message: ExecutionMessage,
  receiveCount: number,
) => Promise<DeadLetterOutcome>;

interface Held {
  message: ExecutionMessage;
  visibleAt: number;
  receiveCount: number;
}

export class LocalExecutionQueue implements ExecutionQueue {
  /** Every message ever enqueued, in order. */
  readonly sent: ExecutionMessage[] = [];
  /** Every message moved to the dead-letter queue. */
  readonly deadLettered: Array<{ message: ExecutionMessage; receiveCount: number }> = [];
  readonly #clock: Clock;
  readonly #visibilityMs: number;
  readonly #maxReceives: number;
  readonly #logger: Logger | undefined;
  #held: Held[] = [];
  /** Dead-lettered messages whose consumer asked to see them again. */
  #deadHeld: Held[] = [];
  #consumer: Consumer | undefined;
  #deadLetterConsumer: DeadLetterConsumer | undefined;

  constructor(options: LocalQueueOptions) {
    this.#clock = options.clock;
    this.#visibilityMs = options.visibilityTimeoutMs ?? 60_000;
    this.#maxReceives = options.maxReceives ?? 20;
    this.#logger = options.logger;
  }

  async enqueue(message: ExecutionMessage): Promise<void> {
    this.sent.push(message);
    this.#held.push({ message, visibleAt: this.#clock.now(), receiveCount: 0 });
  }

  connect(consumer: Consumer, deadLetterConsumer: DeadLetterConsumer): void {
    this.#consumer = consumer;
    this.#deadLetterConsumer = deadLetterConsumer;
  }

  /** Messages waiting or in flight, in the queue and its dead-letter queue. */
  get depth(): number {
    return this.#held.length + this.#deadHeld.length;
  }

  /** When the next held message becomes visible; undefined when both queues are empty. */
  nextVisibleAt(): number | undefined {
    const all = [...this.#held, ...this.#deadHeld];
    if (all.length === 0) return undefined;
    return Math.min(...all.map((held) => held.visibleAt));
  }

  /** Receives every message visible now, all at once, and applies the consumers' verdicts. */
  async deliverDue(): Promise<number> {
    const consumer = this.#consumer;
    if (consumer === undefined) throw new Error("no consumer connected to the local queue");
    const now = this.#clock.now();
    const due = this.#held.filter((held) => held.visibleAt <= now);
    const deadDue = this.#deadHeld.filter((held) => held.visibleAt <= now);
    await Promise.all([
      ...due.map((held) => this.#receive(held, consumer)),
      ...deadDue.map((held) => this.#receiveDead(held)),
    ]);
    return due.length + deadDue.length;
  }

  /**
   * Delivers until the queue is empty, moving `clock` to each next visibility time (a
   * ManualClock in tests). Stops after `maxSteps` deliveries rounds.
   */
  async drain(clock: { advance(ms: number): void }, maxSteps = 1_000): Promise<void> {
    for (let step = 0; step < maxSteps; step++) {
      const next = this.nextVisibleAt();
      if (next === undefined) return;
      const wait = next - this.#clock.now();
      if (wait > 0) clock.advance(wait);
      await this.deliverDue();
    }
    throw new Error(`the local queue did not drain in ${maxSteps} rounds`);
  }

  async #receive(held: Held, consumer: Consumer): Promise<void> {
    held.receiveCount += 1;
    if (held.receiveCount > this.#maxReceives) {
      this.#remove(held);
      const dead = { message: held.message, visibleAt: this.#clock.now(), receiveCount: 0 };
      this.deadLettered.push({ message: held.message, receiveCount: held.receiveCount - 1 });
      this.#deadHeld.push(dead);
      await this.#receiveDead(dead, held.receiveCount - 1);
      return;
    }
    held.visibleAt = this.#clock.now() + this.#visibilityMs;
    try {
      const verdict = await consumer(held.message, held.receiveCount);
      if (verdict.kind === "done") this.#remove(held);
      else held.visibleAt = this.#clock.now() + verdict.delayMs;
    } catch (error) {
      // Like a Lambda that threw: the message comes back after the visibility timeout.
      this.#logger?.error("executor failed on a message; it is redelivered", {
        requestId: held.message.requestId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #receiveDead(held: Held, receiveCount?: number): Promise<void> {
    const consumer = this.#deadLetterConsumer;
    if (consumer === undefined) return;
    held.visibleAt = this.#clock.now() + this.#visibilityMs;
    try {
      // The main queue's receive count is known only when the message first arrives.
      const outcome = await consumer(held.message, receiveCount ?? this.#maxReceives);
      if (outcome.kind === "retry") held.visibleAt = this.#clock.now() + outcome.delayMs;
      else this.#deadHeld = this.#deadHeld.filter((candidate) => candidate !== held);
    } catch (error) {
      this.#logger?.error("dead-letter consumer failed on a message; it is redelivered", {
        requestId: held.message.requestId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  #remove(held: Held): void {
    this.#held = this.#held.filter((candidate) => candidate !== held);
  }
}
