import { afterEach, describe, expect, it } from "vitest";
import { useDynalite } from "../support/dynamo.js";
import { ARNS } from "./fixtures.js";
import {
  type DecommissionHarness,
  type HarnessOptions,
  startDecommissionHarness,
} from "./harness.js";

const dynamo = useDynalite();
let harness: DecommissionHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** A harness with one approved request for an idle device, its message queued. */
async function approved(options: HarnessOptions = {}) {
  harness = await startDecommissionHarness(dynamo, options);
  const h = harness;
  const device = h.devices.find((d) => d.isCharging !== true);
  if (!device) throw new Error("no idle device");
  const created = await h.create(ARNS.requester, device.evseId);
  const id = String(created.body.id);
  expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
  return { h, id, evseId: device.evseId };
}

const deletes = (h: DecommissionHarness) => h.sim.stats().requests["DELETE /v2/evses/{id}"] ?? 0;

async function request(h: DecommissionHarness, id: string) {
  const request = await h.store.get(id);
  if (!request) throw new Error(`request ${id} vanished`);
  return request;
}

describe("executing an approved request", () => {
  it("completes once when the first DELETE times out after reaching ev.energy and the retry finds it gone", async () => {
    const { h, id, evseId } = await approved();
    h.sim.script({ route: "DELETE /v2/evses/{id}", kind: "timeout-after-apply" });
    await h.run();
    const done = await request(h, id);
    expect(done.status).toBe("COMPLETED");
    expect(done.outcome).toMatch(/after a DELETE of an earlier attempt: that DELETE took effect/);
    expect(h.sim.stats().deleted).toEqual([evseId]);
    expect(deletes(h)).toBe(1);
    expect(h.eventTypes().filter((type) => type === "EVSE Decommission Completed")).toHaveLength(1);
    expect(done.history.map((entry) => entry.action)).toEqual([
      "requested",
      "approved",
      "execution-started",
      "delete-sent",
      "attempt-failed",
      "completed",
    ]);
  });

  it("rides out a 503 spell and completes without a human, backing off between attempts", async () => {
    const { h, id, evseId } = await approved();
    const start = h.clock.now();
    h.sim.script(
      ...Array.from({ length: 3 }, () => ({
        route: "DELETE /v2/evses/{id}" as const,
        kind: "status" as const,
        status: 503,
      })),
    );
    await h.run();
    const done = await request(h, id);
    expect(done.status).toBe("COMPLETED");
    expect(done.execution.attempts).toBe(4);
    expect(deletes(h)).toBe(4);
    expect(h.sim.stats().deleted).toEqual([evseId]);
    // 30 s base, doubling, half of it jittered: at least 15 + 30 + 60 s passed.
    expect(h.clock.now() - start).toBeGreaterThanOrEqual(105_000);
  });

  it("fails with the reason when ev.energy keeps failing, and says so on the bus", async () => {
    const { h, id } = await approved({ executor: { maxAttempts: 3 } });
    h.sim.script(
      ...Array.from({ length: 10 }, () => ({
        route: "DELETE /v2/evses/{id}" as const,
        kind: "status" as const,
        status: 503,
      })),
    );
    await h.run();
    const failed = await request(h, id);
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(/gave up after 3 attempts .*503/);
    expect(h.sim.stats().deleted).toEqual([]);
    const event = h.publisher.events.at(-1);
    expect(event).toMatchObject({
      type: "EVSE Decommission Failed",
      requestId: id,
      status: "FAILED",
    });
    expect(event?.detail).toMatch(/gave up/);
    // The EVSE is free for a new request.
    expect(await h.store.openRequestFor(failed.evseId)).toBeUndefined();
  });

  it("waits for Retry-After on a 429 before trying again", async () => {
    const { h, id } = await approved();
    const start = h.clock.now();
    h.sim.script({
      route: "DELETE /v2/evses/{id}",
      kind: "status",
      status: 429,
      retryAfter: "900",
    });
    await h.run();
    const done = await request(h, id);
    expect(done.status).toBe("COMPLETED");
    const log = h.sim.requestLog().filter((entry) => entry.route === "DELETE /v2/evses/{id}");
    expect(log).toHaveLength(2);
    expect((log[1]?.at ?? 0) - (log[0]?.at ?? 0)).toBeGreaterThanOrEqual(900_000);
    expect(h.clock.now() - start).toBeGreaterThanOrEqual(900_000);
  });

  it("fails at pre-flight without a DELETE when the cpid is no longer the requested one", async () => {
    const { h, id, evseId } = await approved();
    h.sim.fleet.update(evseId, { cpid: "SOMEONE-ELSE" });
    await h.run();
    const failed = await request(h, id);
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(/cpid mismatch.*SOMEONE-ELSE/);
    expect(deletes(h)).toBe(0);
  });

  it("fails at pre-flight without a DELETE when the write credential belongs to another account", async () => {
    const { h, id } = await approved({
      writeClient: { clientId: "other-account", clientSecret: "other-secret" },
    });
    await h.run();
    const failed = await request(h, id);
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(
      /404 .* with the write credential.*belongs to another account; nothing was deleted/,
    );
    expect(deletes(h)).toBe(0);
  });

  it("fails at pre-flight when the device is charging right now and the approval was not forced", async () => {
    const { h, id, evseId } = await approved();
    h.sim.fleet.update(evseId, {
      status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7000 },
    });
    await h.run();
    const failed = await request(h, id);
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(/charging right now/);
    expect(deletes(h)).toBe(0);
  });

  it("fails without retrying when the credential lacks the write scope", async () => {
    const { h, id } = await approved({
      writeClient: { clientId: "reader", clientSecret: "reader-secret" },
    });
    await h.run();
    const failed = await request(h, id);
    expect(failed.status).toBe("FAILED");
    expect(failed.outcome).toMatch(/invalid_scope/);
    expect(failed.execution.attempts).toBe(1);
  });

  it("ignores a duplicate or superseded message: one DELETE however often it is delivered", async () => {
    const { h, id } = await approved();
    const token = (await request(h, id)).execution.token ?? "";
    await h.queue.enqueue({ requestId: id, token });
    await h.queue.enqueue({ requestId: id, token: "stale-token" });
    await h.run();
    expect((await request(h, id)).status).toBe("COMPLETED");
    expect(deletes(h)).toBe(1);
  });
});
