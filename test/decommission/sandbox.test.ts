import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { DecommissionEvent } from "../../functions/core/decommission/model.js";
import { createPoller } from "../../functions/poll-runtime.js";
import { deletionTarget, startDecommissionService } from "../../local/decommission-service.js";
import { startLocalEnvironment } from "../../local/environment.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { silentLogger } from "../support/poll-harness.js";

const REQUESTER = "arn:aws:sts::111111111111:assumed-role/requester/alice";
const APPROVER = "arn:aws:sts::111111111111:assumed-role/approver/bob";

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

/** The sandbox as `npm start` composes it, on free ports, with a clock the test moves. */
async function startSandbox(options: { executes?: boolean } = {}) {
  const clock = new ManualClock("2026-03-02T08:00:00Z");
  const local = await startLocalEnvironment({ env: {}, clock, simulator: { fleetSize: 30 } });
  closers.push(() => local.close());
  const poller = createPoller({
    config: local.config,
    secrets: local.secrets,
    documents: local.documents,
    publisher: new RecordingPublisher(),
    clock,
    random: seededRandom(1),
    logger: silentLogger,
  });
  await poller.poll({ runId: "sandbox-1", timeLimitMs: 60_000 });
  const events = new RecordingPublisher<DecommissionEvent>();
  const service = await startDecommissionService({
    documents: local.documents,
    tableName: local.config.TABLE_NAME,
    publisher: events,
    clock,
    random: seededRandom(2),
    logger: silentLogger,
    writeSecrets: local.secrets,
    apiUrl: local.config.EVENERGY_API_URL,
    tokenUrl: local.config.EVENERGY_TOKEN_URL,
    port: 0,
    approvalKey: Buffer.alloc(32, 1),
    ...options,
    timers: false,
  });
  closers.push(() => service.close());
  const simulator = local.simulator;
  if (!simulator) throw new Error("the sandbox runs the simulator by default");

  const call = async (
    method: string,
    path: string,
    options: { as?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        ...(options.as ? { "X-Principal": options.as } : {}),
        ...(options.body === undefined ? {} : { "Content-Type": "application/json" }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      location: response.headers.get("location"),
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  return { clock, simulator, service, events, call };
}

describe("the sandbox's decommission API on 127.0.0.1", () => {
  it("runs a request by A and an approval by B to one DELETE at the simulator and COMPLETED", async () => {
    const { clock, simulator, service, events, call } = await startSandbox();
    const listing = await call("GET", "/evses?limit=100", { as: REQUESTER });
    expect(listing.status).toBe(200);
    const items = listing.body.items as Array<{
      evseId: string;
      cpid: string;
      isCharging: boolean | null;
    }>;
    expect(items).toHaveLength(30);
    const device = items.find((item) => item.isCharging !== true);
    if (!device) throw new Error("no idle device");

    const created = await call("POST", "/decommission-requests", {
      as: REQUESTER,
      body: { evseId: device.evseId, reason: "site closed", externalRef: "OPS-42" },
      headers: { "Idempotency-Key": "9b1f3c1e-0001" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: "PENDING_APPROVAL", cpid: device.cpid });
    const id = String(created.body.id);

    const approved = await call("POST", `/decommission-requests/${id}/approve`, {
      as: APPROVER,
      body: { comment: "confirmed with the site" },
    });
    expect(approved.status).toBe(202);
    // Links resolve on the local server itself (no stage in its paths).
    expect(approved.body.statusUrl).toBe(`/decommission-requests/${id}`);
    expect(approved.location).toBe(`/decommission-requests/${id}`);
    expect(created.location).toBe(`/decommission-requests/${id}`);
    const followed = await call("GET", String(approved.body.statusUrl), { as: APPROVER });
    expect(followed).toMatchObject({ status: 200, body: { id, status: "APPROVED" } });

    await service.queue.drain(clock);

    const stats = (await (await fetch(`${simulator.origin}/_sim/stats`)).json()) as {
      deleted: string[];
      requests: Record<string, number>;
    };
    expect(stats.deleted).toEqual([device.evseId]);
    expect(stats.requests["DELETE /v2/evses/{id}"]).toBe(1);
    const done = await call("GET", `/decommission-requests/${id}`, { as: APPROVER });
    expect(done.body.status).toBe("COMPLETED");
    const after = await call("GET", "/evses?limit=100", { as: REQUESTER });
    const remaining = (after.body.items as Array<{ evseId: string }>).map((item) => item.evseId);
    expect(remaining).toHaveLength(29);
    expect(remaining).not.toContain(device.evseId);
    expect(events.events.map((event) => event.type)).toEqual([
      "EVSE Decommission Requested",
      "EVSE Decommission Approved",
      "EVSE Decommission Completed",
    ]);
    expect(
      events.events.every((event) => event.requestId === id && event.evseId === device.evseId),
    ).toBe(true);
  });

  it("takes the caller from X-Principal, answers its absence like API Gateway, and problems as problem+json", async () => {
    const { call } = await startSandbox();
    const anonymous = await call("GET", "/evses");
    expect(anonymous.status).toBe(403);
    expect(anonymous.contentType).toBe("application/problem+json");
    expect(anonymous.body.detail).toMatch(/X-Principal/);
    const requester = "arn:aws:sts::111111111111:assumed-role/requester/carol";
    const created = await call("POST", "/decommission-requests", {
      as: requester,
      body: { evseId: "evse01JZZZZZZZZZZZZZZZZZZZZZZZ", reason: "x" },
      headers: { "Idempotency-Key": "k" },
    });
    expect(created.status).toBe(404);
    expect(created.contentType).toBe("application/problem+json");
    const notApprover = await call(
      "POST",
      "/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ/approve",
      {
        as: requester,
      },
    );
    expect(notApprover.status).toBe(404);
  });

  it("answers only requests addressed to a loopback host, so a rebound DNS name cannot reach it", async () => {
    const { service } = await startSandbox();
    const { port } = new URL(service.url);
    const get = (host: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: "/evses",
            headers: { Host: host, "X-Principal": REQUESTER },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => {
              text += chunk.toString("utf8");
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    for (const host of [
      "evil.example",
      `evil.example:${port}`,
      "127.0.0.1.nip.io",
      "localhost.evil.example",
    ]) {
      const refused = await get(host);
      expect(refused.status).toBe(403);
      expect(refused.body.type).toBe("urn:evse-ops:problem:host-not-allowed");
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`]) {
      expect((await get(host)).status).toBe(200);
    }
  });

  it("never deletes when started against a real account without the flag: approvals fail, saying why", async () => {
    const { clock, simulator, service, call } = await startSandbox({ executes: false });
    const listing = await call("GET", "/evses?limit=5", { as: REQUESTER });
    const device = (
      listing.body.items as Array<{ evseId: string; isCharging: boolean | null }>
    ).find((item) => item.isCharging !== true);
    if (!device) throw new Error("no idle device");
    const created = await call("POST", "/decommission-requests", {
      as: REQUESTER,
      body: { evseId: device.evseId, reason: "site closed" },
      headers: { "Idempotency-Key": "9b1f3c1e-0002" },
    });
    const id = String(created.body.id);
    expect(
      (await call("POST", `/decommission-requests/${id}/approve`, { as: APPROVER })).status,
    ).toBe(202);
    await service.queue.drain(clock);
    expect(simulator.stats().requests["DELETE /v2/evses/{id}"] ?? 0).toBe(0);
    const failed = (await call("GET", `/decommission-requests/${id}`, { as: APPROVER })).body;
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(
      /does not delete at .*--delete-real-chargers.*nothing was deleted/,
    );
  });
});

describe("what the sandbox may delete", () => {
  it("deletes at the simulator, and at a real account only with --delete-real-chargers, saying which", () => {
    expect(
      deletionTarget({
        simulated: true,
        apiUrl: "http://127.0.0.1:3001/v2",
        deleteRealChargers: false,
      }),
    ).toEqual({
      executes: true,
      banner: "DELETE at the simulated ev.energy http://127.0.0.1:3001/v2",
    });
    const real = { simulated: false, apiUrl: "https://api.ev.energy/v2" };
    const off = deletionTarget({ ...real, deleteRealChargers: false });
    expect(off.executes).toBe(false);
    expect(off.banner).toMatch(
      /^OFF: .*without a DELETE at https:\/\/api\.ev\.energy\/v2.*--delete-real-chargers/,
    );
    const on = deletionTarget({ ...real, deleteRealChargers: true });
    expect(on.executes).toBe(true);
    expect(on.banner).toMatch(/DELETE REAL CHARGERS at https:\/\/api\.ev\.energy\/v2/);
  });
});
