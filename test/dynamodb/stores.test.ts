import { describe, expect, it } from "vitest";
import { DynamoDeviceStore } from "../../functions/adapters/dynamodb/device-store.js";
import { DynamoRequestLedger } from "../../functions/adapters/dynamodb/request-ledger.js";
import { DynamoSweepStore } from "../../functions/adapters/dynamodb/sweep-store.js";
import type { DeviceState } from "../../functions/core/device-state.js";
import { freshCheckpoint } from "../../functions/core/sweep.js";
import { useDynalite } from "../support/dynamo.js";

const dynamo = useDynalite();

function device(evseId: string, version = 1): DeviceState {
  return {
    evseId,
    cpid: `CP-${evseId.slice(-4)}`,
    lockMode: "UNLOCKED",
    isPluggedIn: false,
    isCharging: false,
    chargeRateWatts: 0,
    exportPowerWatts: null,
    sampledAt: "2026-01-01T00:00:00.000Z",
    connectivity: "online",
    lifecycle: "active",
    firstSeenAt: "2026-01-01T00:00:00.000Z",
    lastChangedAt: "2026-01-01T00:00:00.000Z",
    lastSeenAt: "2026-01-01T00:00:00.000Z",
    version,
  };
}

const id = (n: number) => `evse${String(n).padStart(26, "0")}`;

describe("DynamoDeviceStore", () => {
  it("reads an id range (exclusive start, inclusive end) in ascending order", async () => {
    const store = new DynamoDeviceStore(dynamo.documents, await dynamo.freshTable());
    for (const n of [1, 2, 3, 4, 5]) await store.put(device(id(n)), undefined);

    const ids = async (range: { afterId?: string; throughId?: string }) =>
      (await store.readRange(range)).map((d) => d.evseId);
    expect(await ids({ afterId: id(2), throughId: id(4) })).toEqual([id(3), id(4)]);
    expect(await ids({ throughId: id(2) })).toEqual([id(1), id(2)]);
    expect(await ids({ afterId: id(4) })).toEqual([id(5)]);
    expect(await ids({})).toEqual([1, 2, 3, 4, 5].map(id));
  });

  it("reads ahead a limited number of devices after an id, saying whether any follow", async () => {
    const store = new DynamoDeviceStore(dynamo.documents, await dynamo.freshTable());
    for (const n of [1, 2, 3, 4, 5]) await store.put(device(id(n)), undefined);
    const ahead = await store.readAfter(id(1), 2);
    expect(ahead.devices.map((d) => d.evseId)).toEqual([id(2), id(3)]);
    expect(ahead.exhausted).toBe(false);
    const rest = await store.readAfter(id(3), 10);
    expect(rest).toMatchObject({ exhausted: true });
    expect(rest.devices.map((d) => d.evseId)).toEqual([id(4), id(5)]);
    expect((await store.readAfter(undefined, 1)).devices.map((d) => d.evseId)).toEqual([id(1)]);
  });

  it("writes only over the expected version and reports a conflict otherwise", async () => {
    const store = new DynamoDeviceStore(dynamo.documents, await dynamo.freshTable());
    expect(await store.put(device(id(1)), undefined)).toBe("written");
    expect(await store.put(device(id(1)), undefined)).toBe("conflict");
    expect(await store.put({ ...device(id(1), 2), cpid: "NEW" }, 1)).toBe("written");
    expect(await store.put({ ...device(id(1), 2), cpid: "LOST" }, 1)).toBe("conflict");
    expect((await store.get(id(1)))?.cpid).toBe("NEW");
  });
});

describe("DynamoSweepStore", () => {
  it("grants the lease to one run at a time until it expires or is released", async () => {
    const sweeps = new DynamoSweepStore(dynamo.documents, await dynamo.freshTable());
    expect(await sweeps.acquire("run-a", 1_000, 500)).toBeDefined();
    expect(await sweeps.acquire("run-b", 1_200, 500)).toBeUndefined();
    expect(await sweeps.acquire("run-b", 1_500, 500)).toBeDefined();
    await sweeps.release("run-b");
    expect(await sweeps.acquire("run-c", 1_600, 500)).toBeDefined();
  });

  it("saves a checkpoint only while its run holds an unexpired lease", async () => {
    const sweeps = new DynamoSweepStore(dynamo.documents, await dynamo.freshTable());
    const taken = await sweeps.acquire("run-a", 1_000, 500);
    const moved = { ...(taken?.checkpoint ?? freshCheckpoint("s", "t")), next: "page-2" };
    expect(await sweeps.commit("run-a", 1_100, moved, 1000)).toBe(true);
    // run-a overran its lease; run-b took over: run-a can no longer move the cursor.
    const second = await sweeps.acquire("run-b", 1_600, 500);
    expect(second?.checkpoint.next).toBe("page-2");
    expect(second?.rateLimitLimit).toBe(1000);
    expect(await sweeps.commit("run-a", 1_650, { ...moved, next: "page-1" }, null)).toBe(false);
    expect(await sweeps.commit("run-b", 2_200, { ...moved, next: "page-9" }, null)).toBe(false);
    const third = await sweeps.acquire("run-c", 2_300, 500);
    expect(third?.checkpoint.next).toBe("page-2");
  });
});

describe("a checkpoint saved by an older version", () => {
  it("gets the fields it lacks with their fresh values", async () => {
    const tableName = await dynamo.freshTable();
    const { UpdateCommand } = await import("@aws-sdk/lib-dynamodb");
    await dynamo.documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: "POLL", sk: "SWEEP" },
        UpdateExpression: "SET checkpoint = :old",
        ExpressionAttributeValues: {
          ":old": { sweepId: "s1", startedAt: "t", next: "page-3", lastId: null, pages: 2 },
        },
      }),
    );
    const state = await new DynamoSweepStore(dynamo.documents, tableName).acquire("run", 1, 10);
    expect(state?.checkpoint).toMatchObject({
      sweepId: "s1",
      next: "page-3",
      pages: 2,
      pending: [],
      vanished: [],
      listingComplete: false,
    });
  });
});

describe("DynamoRequestLedger", () => {
  it("sums the minutes since a time, counting the whole first minute", async () => {
    const ledger = new DynamoRequestLedger(dynamo.documents, await dynamo.freshTable());
    const t0 = Date.parse("2026-01-01T10:00:30Z");
    await ledger.record(5, t0);
    await ledger.record(2, t0 + 10_000);
    await ledger.record(7, t0 + 90 * 60_000);
    expect(await ledger.countSince(t0)).toBe(14);
    expect(await ledger.countSince(t0 + 60_000)).toBe(7);
    expect(await ledger.countSince(t0 + 91 * 60_000)).toBe(0);
  });
});
