import type { PutEventsCommand, PutEventsResultEntry } from "@aws-sdk/client-eventbridge";
import { describe, expect, it } from "vitest";
import { EventBridgePublisher } from "../../functions/adapters/eventbridge/event-publisher.js";
import { detectChange } from "../../functions/core/device-state.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { silentLogger } from "../support/poll-harness.js";

const settings = { stalenessMs: 900_000, chargeRateThresholdWatts: 500, heartbeatMs: 3_600_000 };

function discoveries(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const id = `evse${String(i).padStart(26, "0")}`;
    return detectChange(undefined, { id, cpid: `CP${i}`, latestStatusLog: null }, 0, settings)
      .events[0];
  }).filter((event) => event !== undefined);
}

/** A PutEvents stand-in behind the publisher's client port: records calls, fails on demand. */
function fakeEventBridge(failFirstCallAt: number[]) {
  const calls: string[][] = [];
  return {
    calls,
    client: {
      send: async (command: PutEventsCommand) => {
        const entries = command.input.Entries ?? [];
        calls.push(entries.map((entry) => JSON.parse(entry.Detail ?? "{}").eventId));
        const failing = calls.length === 1 ? failFirstCallAt : [];
        const results: PutEventsResultEntry[] = entries.map((_, i) =>
          failing.includes(i)
            ? { ErrorCode: "InternalFailure", ErrorMessage: "try again" }
            : { EventId: `eb-${calls.length}-${i}` },
        );
        return { FailedEntryCount: failing.length, Entries: results };
      },
    },
  };
}

describe("EventBridgePublisher", () => {
  it("sends batches of at most 10 with the change type as detail-type", async () => {
    const bus = fakeEventBridge([]);
    const publisher = new EventBridgePublisher({
      client: bus.client,
      busName: "bus",
      source: "evse-ops",
      clock: new ManualClock(),
      random: seededRandom(1),
      logger: silentLogger,
    });
    const events = discoveries(23);
    expect(await publisher.publish(events)).toEqual({ failed: [] });
    expect(bus.calls.map((call) => call.length)).toEqual([10, 10, 3]);
    expect(bus.calls.flat()).toEqual(events.map((event) => event.eventId));
  });

  it("resends exactly the entry that failed, and nothing else", async () => {
    const bus = fakeEventBridge([6]);
    const clock = new ManualClock();
    const publisher = new EventBridgePublisher({
      client: bus.client,
      busName: "bus",
      source: "evse-ops",
      clock,
      random: seededRandom(1),
      logger: silentLogger,
    });
    const events = discoveries(10);
    expect(await publisher.publish(events)).toEqual({ failed: [] });
    expect(bus.calls).toHaveLength(2);
    expect(bus.calls[1]).toEqual([events[6]?.eventId]);
    expect(clock.sleeps).toHaveLength(1);
  });

  it("returns what still fails after its attempts instead of dropping it", async () => {
    const calls: number[] = [];
    const publisher = new EventBridgePublisher({
      client: {
        send: async () => {
          calls.push(1);
          throw Object.assign(new Error("down"), { name: "ServiceUnavailable" });
        },
      },
      busName: "bus",
      source: "evse-ops",
      clock: new ManualClock(),
      random: seededRandom(1),
      logger: silentLogger,
      maxAttempts: 3,
    });
    const events = discoveries(2);
    expect((await publisher.publish(events)).failed).toEqual(events);
    expect(calls).toHaveLength(3);
  });
});
