import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { DynamoDecommissionStore } from "../../functions/adapters/dynamodb/decommission-store.js";
import { DynamoDeviceDirectory } from "../../functions/adapters/dynamodb/device-directory.js";
import { DynamoDeviceStore } from "../../functions/adapters/dynamodb/device-store.js";
import { DynamoIdempotencyStore } from "../../functions/adapters/dynamodb/idempotency-store.js";
import { DynamoPauseSwitch, POLL_SWITCH } from "../../functions/adapters/dynamodb/pause-switch.js";
import { InvalidCursor } from "../../functions/core/decommission/errors.js";
import type { RequestUpdate } from "../../functions/core/decommission/ports.js";
import { ManualClock } from "../../local/manual-clock.js";
import { useDynalite } from "../support/dynamo.js";
import { ARNS, aDevice, aRequest, evseId } from "./fixtures.js";

const dynamo = useDynalite();

async function stores() {
  const table = await dynamo.freshTable();
  return {
    table,
    requests: new DynamoDecommissionStore(dynamo.documents, table),
    idempotency: new DynamoIdempotencyStore(dynamo.documents, table),
    devices: new DynamoDeviceStore(dynamo.documents, table),
    directory: new DynamoDeviceDirectory(dynamo.documents, table),
  };
}

function approve(expectedVersion: number): RequestUpdate {
  const at = "2026-03-02T09:00:00.000Z";
  return {
    expectedVersion,
    allowedFrom: ["PENDING_APPROVAL"],
    status: "APPROVED",
    set: { approvedAt: at, force: true },
    history: [
      {
        at,
        actor: ARNS.approverBob,
        action: "approved",
        from: "PENDING_APPROVAL",
        to: "APPROVED",
        version: expectedVersion + 1,
      },
    ],
    updatedAt: at,
  };
}

describe("the DynamoDB decommission store", () => {
  it("round-trips a request and keeps its expiry out of the TTL attribute", async () => {
    const { requests, table } = await stores();
    const request = aRequest();
    await requests.create(request);
    expect(await requests.get(request.id)).toEqual(request);
    const raw = await dynamo.documents.send(
      new (await import("@aws-sdk/lib-dynamodb")).GetCommand({
        TableName: table,
        Key: { pk: "DCR", sk: request.id },
      }),
    );
    expect(raw.Item?.expiresAt).toBeUndefined();
    expect(raw.Item?.pendingExpiresAt).toBe(request.expiresAt);
  });

  it("transitions only from an allowed status at the expected version, appending history", async () => {
    const { requests } = await stores();
    const request = aRequest();
    await requests.create(request);
    const written = await requests.update(request.id, approve(1));
    expect(written).not.toBe("conflict");
    if (written === "conflict") return;
    expect(written).toMatchObject({ status: "APPROVED", version: 2, force: true });
    expect(written.history.map((entry) => entry.action)).toEqual(["requested", "approved"]);
    // Same version again, or from a status no longer held: refused, nothing changes.
    expect(await requests.update(request.id, approve(1))).toBe("conflict");
    expect(await requests.update(request.id, approve(2))).toBe("conflict");
    expect((await requests.get(request.id))?.history).toHaveLength(2);
  });

  it("writes an approval only while the request's own expiry is later than the approval", async () => {
    const { requests } = await stores();
    const request = aRequest({ expiresAt: "2026-03-02T09:00:00.000Z" });
    await requests.create(request);
    const at = (time: string): RequestUpdate => ({ ...approve(1), unexpiredAt: time });
    expect(await requests.update(request.id, at("2026-03-02T09:00:00.000Z"))).toBe("conflict");
    expect(await requests.update(request.id, at("2026-03-02T09:00:00.001Z"))).toBe("conflict");
    const written = await requests.update(request.id, at("2026-03-02T08:59:59.999Z"));
    expect(written).toMatchObject({ status: "APPROVED", version: 2 });
  });

  it("reads a request written before the DELETE flag was one flag, and before signatures", async () => {
    const { requests, table } = await stores();
    const request = aRequest({ status: "EXECUTING" });
    const { deleteSent: _deleteSent, ...execution } = request.execution;
    const { approvalMac: _mac, expiresAt, ...rest } = request;
    const { PutCommand } = await import("@aws-sdk/lib-dynamodb");
    await dynamo.documents.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: "DCR",
          sk: request.id,
          ...rest,
          pendingExpiresAt: expiresAt,
          execution: { ...execution, outcomeUnknown: false, unknownOutcomeSeen: true },
        },
      }),
    );
    const read = await requests.get(request.id);
    expect(read?.execution.deleteSent).toBe(true);
    expect(read?.approvalMac).toBeNull();
    expect(read?.execution).not.toHaveProperty("unknownOutcomeSeen");
  });

  it("marks a device decommissioned with one update of the completion attributes, once", async () => {
    const { devices } = await stores();
    await devices.put(aDevice({ version: 4 }), undefined);
    await devices.markDecommissioned(evseId(1), "2026-03-02T09:00:00.000Z");
    await devices.markDecommissioned(evseId(1), "2026-03-02T10:00:00.000Z");
    await devices.markDecommissioned(evseId(9), "2026-03-02T10:00:00.000Z");
    expect(await devices.get(evseId(1))).toEqual(
      aDevice({
        lifecycle: "decommissioned",
        lastChangedAt: "2026-03-02T09:00:00.000Z",
        version: 5,
      }),
    );
    expect(await devices.get(evseId(9))).toBeUndefined();
  });

  it("lets exactly one of many concurrent writers of one version win", async () => {
    const { requests } = await stores();
    const request = aRequest();
    await requests.create(request);
    const results = await Promise.all(
      Array.from({ length: 25 }, () => requests.update(request.id, approve(1))),
    );
    expect(results.filter((result) => result !== "conflict")).toHaveLength(1);
  });

  it("lists by status, by EVSE and overall with opaque cursors, and refuses foreign cursors", async () => {
    const { requests } = await stores();
    const base = Date.parse("2026-03-02T08:00:00.000Z");
    const made = [];
    for (let i = 0; i < 5; i++) {
      const at = new Date(base + i * 1000).toISOString();
      const request = aRequest({ requestedAt: at, updatedAt: at, evseId: evseId(i % 2) });
      made.push(request);
      await requests.create(request);
    }
    const first = await requests.list({ limit: 2 });
    expect(first.items.map((r) => r.id)).toEqual([made[4]?.id, made[3]?.id]);
    expect(first.nextCursor).toBeDefined();
    const second = await requests.list({ limit: 2, cursor: first.nextCursor });
    expect(second.items.map((r) => r.id)).toEqual([made[2]?.id, made[1]?.id]);

    const pending = await requests.list({ limit: 10, status: "PENDING_APPROVAL" });
    expect(pending.items).toHaveLength(5);
    const byEvse = await requests.list({ limit: 10, evseId: evseId(0) });
    expect(byEvse.items.map((r) => r.id)).toEqual([made[4]?.id, made[2]?.id, made[0]?.id]);
    expect(
      (await requests.list({ limit: 10, evseId: evseId(0), status: "APPROVED" })).items,
    ).toEqual([]);

    const cursor = first.nextCursor ?? "";
    await expect(requests.list({ limit: 2, status: "APPROVED", cursor })).rejects.toBeInstanceOf(
      InvalidCursor,
    );
    await expect(requests.list({ limit: 2, cursor: "not-a-cursor!" })).rejects.toBeInstanceOf(
      InvalidCursor,
    );
    const forged = Buffer.from(
      JSON.stringify({ v: 1, l: "requests", k: { pk: "EVSE", sk: "x" } }),
    ).toString("base64url");
    await expect(requests.list({ limit: 2, cursor: forged })).rejects.toBeInstanceOf(InvalidCursor);
  });

  it("guards one open request per EVSE", async () => {
    const { requests } = await stores();
    expect(await requests.claimEvse(evseId(1), "dcr_A", 1)).toEqual({ claimed: true });
    expect(await requests.claimEvse(evseId(1), "dcr_B", 2)).toEqual({
      claimed: false,
      holder: "dcr_A",
      claimedAt: 1,
    });
    expect(await requests.takeOverEvse(evseId(1), "dcr_X", "dcr_B", 3)).toBe(false);
    expect(await requests.takeOverEvse(evseId(1), "dcr_A", "dcr_B", 3)).toBe(true);
    await requests.releaseEvse(evseId(1), "dcr_A");
    expect(await requests.openRequestFor(evseId(1))).toBe("dcr_B");
    await requests.releaseEvse(evseId(1), "dcr_B");
    expect(await requests.openRequestFor(evseId(1))).toBeUndefined();
  });

  it("records published versions forwards only", async () => {
    const { requests } = await stores();
    const request = aRequest();
    await requests.create(request);
    await requests.markPublished(request.id, 1);
    await requests.markPublished(request.id, 0);
    expect((await requests.get(request.id))?.publishedVersion).toBe(1);
  });
});

describe("the DynamoDB idempotency store", () => {
  const claim = (overrides = {}) => ({
    scope: "aws:111111111111:role:requester:alice",
    key: "key-1",
    fingerprint: "f1",
    owner: "o1",
    now: 1_000_000,
    expiresAt: 1_000_000 + 86_400_000,
    lockUntil: 1_000_000 + 30_000,
    ...overrides,
  });

  it("claims a key once, replays the completed response, and frees a released key", async () => {
    const { idempotency } = await stores();
    expect(await idempotency.begin(claim())).toBe("started");
    expect(await idempotency.begin(claim({ owner: "o2" }))).toEqual({
      state: "in-progress",
      fingerprint: "f1",
    });
    const response = {
      statusCode: 201,
      body: "{}",
      headers: { "content-type": "application/json" },
    };
    await idempotency.complete("aws:111111111111:role:requester:alice", "key-1", "o1", response);
    expect(await idempotency.begin(claim({ owner: "o3" }))).toEqual({
      state: "completed",
      fingerprint: "f1",
      response,
    });

    expect(await idempotency.begin(claim({ key: "key-2" }))).toBe("started");
    await idempotency.release("aws:111111111111:role:requester:alice", "key-2", "o1");
    expect(await idempotency.begin(claim({ key: "key-2", owner: "o4" }))).toBe("started");
  });

  it("treats an expired record or an abandoned claim as free", async () => {
    const { idempotency } = await stores();
    expect(await idempotency.begin(claim())).toBe("started");
    expect(await idempotency.begin(claim({ owner: "o2", now: 1_000_000 + 31_000 }))).toBe(
      "started",
    );
    const later = 1_000_000 + 86_400_000 + 1_000;
    expect(
      await idempotency.begin(claim({ owner: "o3", now: later, expiresAt: later + 86_400_000 })),
    ).toBe("started");
  });
});

describe("the pause switch and the device directory", () => {
  it("reads the switch through a short cache and defaults when unset", async () => {
    const { table } = await stores();
    const clock = new ManualClock();
    const reader = new DynamoPauseSwitch(dynamo.documents, table, {
      clock,
      cacheMs: 10_000,
      pausedWhenUnset: false,
    });
    const operator = new DynamoPauseSwitch(dynamo.documents, table, {
      clock,
      cacheMs: 0,
      pausedWhenUnset: false,
    });
    expect(await reader.isPaused()).toBe(false);
    await operator.set(true, "ops", "maintenance");
    expect(await reader.isPaused()).toBe(false);
    clock.advance(10_000);
    expect(await reader.isPaused()).toBe(true);
    expect(await operator.read()).toMatchObject({
      paused: true,
      changedBy: "ops",
      note: "maintenance",
    });
  });

  it("keeps the poll's switch apart from the decommission one: each its own item and default", async () => {
    const { table } = await stores();
    const clock = new ManualClock();
    const decommission = new DynamoPauseSwitch(dynamo.documents, table, {
      clock,
      cacheMs: 0,
      pausedWhenUnset: false,
    });
    const poll = new DynamoPauseSwitch(dynamo.documents, table, {
      sortKey: POLL_SWITCH,
      clock,
      cacheMs: 0,
      pausedWhenUnset: true,
    });
    expect(await poll.isPaused()).toBe(true);
    await decommission.set(true, "ops");
    await poll.set(false, "ops", "secrets filled");
    expect(await decommission.isPaused()).toBe(true);
    expect(await poll.read()).toMatchObject({ paused: false, note: "secrets filled" });
    const { Item } = await dynamo.documents.send(
      new GetCommand({ TableName: table, Key: { pk: "CONTROL", sk: "POLL_PAUSE" } }),
    );
    expect(Item).toMatchObject({ paused: false, changedBy: "ops" });
  });

  it("pages through devices, filtered by lifecycle", async () => {
    const { devices, directory } = await stores();
    for (let i = 0; i < 5; i++) {
      await devices.put(
        aDevice({ evseId: evseId(i), lifecycle: i === 2 ? "decommissioned" : "active" }),
        undefined,
      );
    }
    const first = await directory.list({ limit: 3 });
    expect(first.items.map((d) => d.evseId)).toEqual([evseId(0), evseId(1), evseId(2)]);
    const rest = await directory.list({ limit: 3, cursor: first.nextCursor });
    expect(rest.items.map((d) => d.evseId)).toEqual([evseId(3), evseId(4)]);
    const active = [];
    let cursor: string | undefined;
    do {
      const page = await directory.list({ limit: 2, lifecycle: "active", cursor });
      active.push(...page.items.map((d) => d.evseId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(active).toEqual([evseId(0), evseId(1), evseId(3), evseId(4)]);
    await expect(
      directory.list({ limit: 2, cursor: first.nextCursor ?? "", lifecycle: "active" }),
    ).rejects.toBeInstanceOf(InvalidCursor);
  });
});
