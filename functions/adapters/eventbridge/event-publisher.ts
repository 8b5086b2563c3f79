import {
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from "@aws-sdk/client-eventbridge";
import type { BusEvent, Clock, EventPublisher, Logger, Random } from "../../ports.js";

/** PutEvents takes at most 10 entries a call. */
const BATCH_SIZE = 10;

/** The part of EventBridgeClient the publisher uses; tests hand in a fake through it. */
export interface PutEventsClient {
  send(
    command: PutEventsCommand,
  ): Promise<Pick<PutEventsCommandOutput, "Entries" | "FailedEntryCount">>;
}

export interface EventBridgePublisherOptions {
  client: PutEventsClient;
  busName: string;
  source: string;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Calls per batch, the first included. Default 4. */
  maxAttempts?: number;
  baseBackoffMs?: number;
}

/**
 * Publishes change events in batches of 10; entries PutEvents reports as failed are resent,
 * exactly those, with full-jitter backoff. What still fails is returned, never dropped silently.
 */
export class EventBridgePublisher<E extends BusEvent> implements EventPublisher<E> {
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;

  constructor(private readonly options: EventBridgePublisherOptions) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.baseBackoffMs = options.baseBackoffMs ?? 100;
  }

  async publish(events: readonly E[]): Promise<{ failed: E[] }> {
    const batches: E[][] = [];
    for (let i = 0; i < events.length; i += BATCH_SIZE) {
      batches.push(events.slice(i, i + BATCH_SIZE));
    }
    const failed = await Promise.all(batches.map((batch) => this.publishBatch(batch)));
    return { failed: failed.flat() };
  }

  private async publishBatch(batch: E[]): Promise<E[]> {
    const { client, clock, random, logger } = this.options;
    let pending = batch;
    for (let attempt = 1; ; attempt += 1) {
      let retry: E[];
      try {
        const result = await client.send(
          new PutEventsCommand({ Entries: pending.map((event) => this.entry(event)) }),
        );
        // Entries come back in request order; a failed one carries an ErrorCode.
        retry = pending.filter((_, i) => result.Entries?.[i]?.ErrorCode !== undefined);
        if (retry.length > 0) {
          logger.warn("PutEvents rejected entries", {
            failed: retry.length,
            errorCodes: [
              ...new Set(result.Entries?.map((entry) => entry.ErrorCode).filter(Boolean)),
            ],
            attempt,
          });
        }
      } catch (error) {
        logger.warn("PutEvents failed", {
          error: error instanceof Error ? error.name : "unknown",
          attempt,
        });
        retry = pending;
      }
      if (retry.length === 0) return [];
      if (attempt >= this.maxAttempts) return retry;
      pending = retry;
      await clock.sleep(random() * this.baseBackoffMs * 2 ** attempt);
    }
  }

  private entry(event: E): PutEventsRequestEntry {
    return {
      EventBusName: this.options.busName,
      Source: this.options.source,
      DetailType: event.type,
      Time: new Date(event.detectedAt),
      Resources: [],
      Detail: JSON.stringify(eventDetail(event)),
    };
  }
}

/** The `detail` of an event on the bus: all of it but the type, which is the detail-type. */
export function eventDetail<E extends BusEvent>(event: E): Omit<E, "type"> {
  const { type: _type, ...detail } = event;
  return detail;
}
