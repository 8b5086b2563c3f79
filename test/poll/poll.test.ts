import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { DynamoPauseSwitch, POLL_SWITCH } from "../../functions/adapters/dynamodb/pause-switch.js";
import type { ChangeEvent, DeviceState } from "../../functions/core/device-state.js";
import { pollFailed } from "../../functions/poll-runtime.js";
import type { DeviceStore } from "../../functions/ports.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness, storeWith } from "../support/poll-harness.js";

const dynamo = useDynalite();
let harness: Awaited<ReturnType<typeof startPollHarness>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;
/** The harness's default time limit plus the minute the lease outlives it. */
const LEASE = 240_000 + MINUTE;
const ofType = (events: ChangeEvent[], type: ChangeEvent["type"]) =>
  events.filter((event) => event.type === type);

describe("a poll run", () => {
  it("discovers every device on the first sweep; a quiet second sweep writes and emits nothing", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 250 } });
    const first = await harness.poll();
    expect(first).toMatchObject({
      pages: 3,
      evsesSeen: 250,
      changes: 250,
      writes: 250,
      sweepComplete: true,
      stoppedBecause: null,
    });
    const discovered = ofType(harness.publisher.events, "EVSE Discovered");
    expect(new Set(discovered.map((event) => event.evseId)).size).toBe(250);
    expect(new Set(discovered.map((event) => event.eventId)).size).toBe(250);
    expect((await harness.devices.readRange({})).length).toBe(250);

    harness.clock.advance(MINUTE);
    const second = await harness.poll();
    expect(second).toMatchObject({ evsesSeen: 250, changes: 0, writes: 0, sweepComplete: true });
    expect(harness.publisher.events).toHaveLength(250);
  });

  it("refreshes last-seen once the heartbeat is due, without events", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 40 } });
    await harness.poll();
    const online = (await harness.devices.readRange({})).filter((d) => d.connectivity === "online");
    harness.clock.advance(61 * MINUTE);
    // The online devices report again with the same values: nothing but the heartbeat is due.
    for (const device of online) harness.sim.fleet.update(device.evseId, { status: {} });
    const eventsBefore = harness.publisher.events.length;
    const run = await harness.poll();
    expect(run.changes).toBe(0);
    // Every listed device is due, silent ones too: "last seen" is about the listing.
    expect(run.heartbeats).toBe(40);
    expect(harness.publisher.events.length).toBe(eventsBefore);
    const refreshed = await harness.devices.get(online[0]?.evseId ?? "");
    expect(refreshed?.lastSeenAt).toBe(new Date(harness.clock.now()).toISOString());
    expect(refreshed?.version).toBe(online[0]?.version);
  });

  it("detects every simulated change, with one event id per change", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 300 } });
    await harness.poll();
    harness.clock.advance(MINUTE);
    const changes = harness.sim.fleet.churn(0.2);
    const changed = new Set(changes.map((change) => change.evseId));
    const before = harness.publisher.events.length;
    const run = await harness.poll();
    const events = harness.publisher.events.slice(before);
    const statusChanges = ofType(events, "EVSE Status Changed");
    expect(new Set(statusChanges.map((event) => event.evseId))).toEqual(changed);
    expect(statusChanges).toHaveLength(changed.size);
    expect(new Set(events.map((event) => event.eventId)).size).toBe(events.length);
    expect(run.changesByType["EVSE Status Changed"]).toBe(changed.size);
    for (const id of changed) {
      const simulated = harness.sim.fleet.get(id);
      const stored = await harness.devices.get(id);
      expect(stored?.lockMode).toBe(simulated?.lockMode);
      expect(stored?.isPluggedIn).toBe(simulated?.status?.isPluggedIn ?? null);
      expect(stored?.isCharging).toBe(simulated?.status?.isCharging ?? null);
    }
  });

  it("never applies a sample older than the stored one", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 10 } });
    await harness.poll();
    const target = (await harness.devices.readRange({})).find((d) => d.sampledAt !== null);
    if (!target?.sampledAt) throw new Error("the seeded fleet has a reporting device");
    harness.sim.fleet.update(target.evseId, {
      status: {
        sampledAt: Date.parse(target.sampledAt) - 5 * MINUTE,
        isPluggedIn: !target.isPluggedIn,
      },
    });
    const before = harness.publisher.events.length;
    const run = await harness.poll();
    expect(run.changes).toBe(0);
    expect(harness.publisher.events.length).toBe(before);
    expect(await harness.devices.get(target.evseId)).toEqual(target);
  });

  it("re-reads when another writer got there first, and never overwrites its newer state", async () => {
    let rival: ((store: DeviceStore, state: DeviceState) => Promise<void>) | undefined;
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 5 },
      wrapDevices: (store) =>
        storeWith(store, {
          put: async (state, expected) => {
            const race = rival;
            rival = undefined;
            await race?.(store, state);
            return store.put(state, expected);
          },
        }),
    });
    await harness.poll();
    const target = (await harness.devices.readRange({})).find((d) => d.connectivity === "online");
    if (!target?.sampledAt) throw new Error("the seeded fleet has an online device");
    harness.clock.advance(MINUTE);
    harness.sim.fleet.update(target.evseId, { status: { isPluggedIn: !target.isPluggedIn } });
    // Between this poll's read and its write, a rival stores a newer sample of the device.
    const newer: DeviceState = {
      ...target,
      isPluggedIn: !target.isPluggedIn,
      isCharging: true,
      chargeRateWatts: 11_000,
      sampledAt: new Date(harness.clock.now() + 30_000).toISOString(),
      version: target.version + 1,
    };
    rival = async (store) => {
      expect(await store.put(newer, target.version)).toBe("written");
    };
    const run = await harness.poll();
    expect(run.conflicts).toBe(1);
    expect(await harness.devices.get(target.evseId)).toEqual(newer);
  });

  it("killed after publishing and before saving, the next run re-publishes the same ids", async () => {
    let kill = false;
    const recorder = new RecordingPublisher();
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 120 },
      publisher: {
        async publish(events) {
          const result = await recorder.publish(events);
          // The Lambda dies right after PutEvents returned: nothing after it ever runs.
          return kill ? new Promise<never>(() => undefined) : result;
        },
      },
    });
    kill = true;
    await Promise.race([harness.poll(), until(() => recorder.events.length > 0)]);
    kill = false;
    const firstIds = new Set(recorder.events.map((event) => event.eventId));
    expect(firstIds.size).toBe(100);
    expect(await harness.devices.readRange({})).toEqual([]);

    harness.clock.advance(LEASE);
    const next = await harness.poll();
    expect(next).toMatchObject({ sweepComplete: true, writes: 120 });
    const replayed = recorder.events.slice(100).map((event) => event.eventId);
    // The first page's 100 changes come again under the ids already published, never new ones.
    expect(replayed.filter((id) => firstIds.has(id))).toHaveLength(100);
    expect(new Set(recorder.events.map((event) => event.eventId)).size).toBe(120);
    expect((await harness.devices.readRange({})).length).toBe(120);
  });

  it("killed after saving the checkpoint and before writing, the next run finishes the writes", async () => {
    let kill = false;
    let died: () => void = () => undefined;
    const dead = new Promise<void>((resolve) => {
      died = resolve;
    });
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 120 },
      // The killed run's poller stays dead: every device write it starts, now or later, hangs.
      wrapDevices: (store) => {
        let dying = false;
        return storeWith(store, {
          put: (state, expected) => {
            if (!kill && !dying) return store.put(state, expected);
            dying = true;
            died();
            return new Promise<never>(() => undefined);
          },
        });
      },
    });
    kill = true;
    await Promise.race([harness.poll(), dead]);
    kill = false;
    expect(await harness.devices.readRange({})).toEqual([]);

    harness.clock.advance(LEASE);
    const next = await harness.poll(undefined, { coldStart: true });
    // The first page is not read again: its 100 writes come from the checkpoint.
    expect(next).toMatchObject({ sweepComplete: true, writes: 120, pages: 1 });
    const ids = harness.publisher.events.map((event) => event.eventId);
    expect(new Set(ids).size).toBe(120);
    // Its events were published once: the next run wrote them without publishing them again.
    const firstPage = new Set(ids.slice(0, 100));
    expect(ids.filter((id) => firstPage.has(id))).toHaveLength(100);
    expect((await harness.devices.readRange({})).length).toBe(120);
  });

  it("reports a device falling silent once as offline, and once as online when it reports again", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 5 } });
    const target = harness.sim.fleet.list()[0]?.id ?? "";
    harness.sim.fleet.update(target, { status: { isPluggedIn: false } });
    await harness.poll();
    const connectivity = () =>
      ofType(harness?.publisher.events ?? [], "EVSE Connectivity Changed")
        .filter((event) => event.evseId === target)
        .map((event) => event.current.connectivity);

    harness.clock.advance(16 * MINUTE);
    await harness.poll();
    harness.clock.advance(5 * MINUTE);
    await harness.poll();
    expect(connectivity()).toEqual(["offline"]);

    harness.sim.fleet.update(target, { status: {} });
    await harness.poll();
    expect(connectivity()).toEqual(["offline", "online"]);
    expect((await harness.devices.get(target))?.connectivity).toBe("online");
  });
});

describe("the poll switch", () => {
  const SWITCH_CACHE = 15_000;
  /** The operator's side: `aws dynamodb put-item` of `CONTROL` / `POLL_PAUSE`. */
  function operatorSwitch(h: NonNullable<typeof harness>) {
    return new DynamoPauseSwitch(dynamo.documents, h.tableName, {
      sortKey: POLL_SWITCH,
      clock: h.clock,
      cacheMs: 0,
      pausedWhenUnset: true,
    });
  }
  const upstreamRequests = (h: NonNullable<typeof harness>) =>
    Object.values(h.sim.stats().requests).reduce((sum, n) => sum + (n ?? 0), 0);

  it("keeps a new deployment's poll paused until an operator starts it: no request, no write, no error", async () => {
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 30 },
      env: { POLL_START_PAUSED: "true" },
    });

    const paused = await harness.poll();

    expect(paused).toMatchObject({
      stoppedBecause: "paused",
      error: null,
      pages: 0,
      requests: 0,
      writes: 0,
      sweepComplete: false,
    });
    expect(pollFailed(paused)).toBe(false);
    // Nothing reached ev.energy (not even a token exchange) and nothing was stored.
    expect(upstreamRequests(harness)).toBe(0);
    expect(await harness.devices.readRange({})).toEqual([]);
    expect(harness.publisher.events).toEqual([]);

    await operatorSwitch(harness).set(false, "alice", "secrets filled");
    harness.clock.advance(SWITCH_CACHE);
    const started = await harness.poll();

    expect(started).toMatchObject({ stoppedBecause: null, sweepComplete: true, evsesSeen: 30 });
  });

  it("stops a running poll once switched off, and resumes where it stopped once switched on", async () => {
    harness = await startPollHarness(dynamo, { simulator: { fleetSize: 30 } });
    const operator = operatorSwitch(harness);
    expect(await harness.poll()).toMatchObject({ sweepComplete: true, changes: 30 });

    await operator.set(true, "alice", "ev.energy incident");
    harness.clock.advance(SWITCH_CACHE);
    const before = upstreamRequests(harness);
    harness.sim.fleet.churn(0.5);
    expect(await harness.poll()).toMatchObject({ stoppedBecause: "paused", changes: 0 });
    expect(upstreamRequests(harness)).toBe(before);

    await operator.set(false, "alice");
    harness.clock.advance(SWITCH_CACHE);
    const resumed = await harness.poll();
    expect(resumed).toMatchObject({ stoppedBecause: null, sweepComplete: true });
    expect(resumed.changes).toBeGreaterThan(0);
  });

  it("stays paused on anything but an explicit false, once written (a deploy's default no longer counts)", async () => {
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 5 },
      env: { POLL_START_PAUSED: "false" },
    });
    await dynamo.documents.send(
      new PutCommand({
        TableName: harness.tableName,
        Item: { pk: "CONTROL", sk: "POLL_PAUSE", paused: "no" },
      }),
    );
    expect(await harness.poll()).toMatchObject({ stoppedBecause: "paused" });
  });

  it("ends as an error, which alarms, when the switch cannot be read", async () => {
    harness = await startPollHarness(dynamo, {
      simulator: { fleetSize: 5 },
      env: { TABLE_NAME: "no-such-table" },
    });

    const run = await harness.poll();

    expect(run.stoppedBecause).toBe("error");
    expect(run.error).toMatch(/ResourceNotFound/);
    expect(pollFailed(run)).toBe(true);
    expect(upstreamRequests(harness)).toBe(0);
  });
});

/** Lets a run that will never return make progress until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}
