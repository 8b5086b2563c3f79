import { afterEach, describe, expect, it } from "vitest";
import type { DecommissionEvent } from "../../functions/core/decommission/model.js";
import type { EventPublisher } from "../../functions/ports.js";
import { useDynalite } from "../support/dynamo.js";
import { ARNS } from "./fixtures.js";
import { DAY, type DecommissionHarness, startDecommissionHarness } from "./harness.js";

const dynamo = useDynalite();
let harness: DecommissionHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;

function idleDevice(h: DecommissionHarness, index = 0): string {
  const device = h.devices.filter((d) => d.isCharging !== true)[index];
  if (!device) throw new Error("no idle device");
  return device.evseId;
}

async function status(h: DecommissionHarness, id: string) {
  return (await h.store.get(id))?.status;
}

describe("the reconciler", () => {
  it("expires pending requests past expiresAt, frees their EVSE and says so on the bus", async () => {
    harness = await startDecommissionHarness(dynamo);
    const h = harness;
    const evseId = idleDevice(h);
    const id = String((await h.create(ARNS.requester, evseId)).body.id);

    h.clock.advance(7 * DAY - MINUTE);
    expect((await h.reconciler.run()).expired).toBe(0);
    h.clock.advance(MINUTE);
    expect(await h.reconciler.run()).toMatchObject({ expired: 1 });
    expect(await status(h, id)).toBe("EXPIRED");
    expect(h.eventTypes().at(-1)).toBe("EVSE Decommission Expired");
    expect(await h.store.openRequestFor(evseId)).toBeUndefined();
    expect((await h.reconciler.run()).expired).toBe(0);
    expect((await h.create(ARNS.requester, evseId)).status).toBe(201);
  });

  it("lets a new request replace one that expired before the reconciler got to it", async () => {
    harness = await startDecommissionHarness(dynamo);
    const h = harness;
    const evseId = idleDevice(h);
    const first = await h.create(ARNS.requester, evseId);
    const second = await h.create(ARNS.requester, evseId);
    expect(second.status).toBe(409);
    expect(second.body.openRequestId).toBe(first.body.id);
    h.clock.advance(7 * DAY);
    expect((await h.create(ARNS.requester, evseId)).status).toBe(201);
    expect(await status(h, String(first.body.id))).toBe("EXPIRED");
  });

  it("re-sends an approved request whose enqueue was lost", async () => {
    let lose = true;
    harness = await startDecommissionHarness(dynamo, {
      wrapQueue: (queue) => ({
        async enqueue(message) {
          if (lose) {
            lose = false;
            throw new Error("SQS unavailable");
          }
          await queue.enqueue(message);
        },
      }),
    });
    const h = harness;
    const id = String((await h.create(ARNS.requester, idleDevice(h))).body.id);
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    expect(h.queue.depth).toBe(0);

    expect((await h.reconciler.run()).reEnqueued).toBe(0);
    h.clock.advance(16 * MINUTE);
    expect((await h.reconciler.run()).reEnqueued).toBe(1);
    await h.run();
    expect(await status(h, id)).toBe("COMPLETED");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
    const actions = (await h.store.get(id))?.history.map((entry) => entry.action);
    expect(actions).toContain("re-enqueued");
  });

  it("counts as resent only requests that had events to resend", async () => {
    let lose = true;
    harness = await startDecommissionHarness(dynamo, {
      wrapQueue: (queue) => ({
        async enqueue(message) {
          if (lose) {
            lose = false;
            throw new Error("SQS unavailable");
          }
          await queue.enqueue(message);
        },
      }),
    });
    const h = harness;
    const id = String((await h.create(ARNS.requester, idleDevice(h))).body.id);
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    h.clock.advance(16 * MINUTE);
    // Re-enqueueing moves the version on without an event: nothing is left to resend.
    expect(await h.reconciler.run()).toMatchObject({ reEnqueued: 1, republished: 0 });
    expect(await h.reconciler.run()).toMatchObject({ reEnqueued: 0, republished: 0 });
    expect(h.eventTypes()).toEqual(["EVSE Decommission Requested", "EVSE Decommission Approved"]);
  });

  it("marks a request whose message reached the dead-letter queue FAILED", async () => {
    harness = await startDecommissionHarness(dynamo, {
      maxReceives: 3,
      executor: { maxAttempts: 10 },
    });
    const h = harness;
    const id = String((await h.create(ARNS.requester, idleDevice(h))).body.id);
    h.sim.script(
      ...Array.from({ length: 10 }, () => ({
        route: "GET /v2/evses/{id}" as const,
        kind: "status" as const,
        status: 502,
      })),
    );
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    await h.run();
    expect(h.queue.deadLettered).toHaveLength(1);
    const failed = await h.store.get(id);
    expect(failed?.status).toBe("FAILED");
    expect(failed?.outcome).toMatch(
      /dead-lettered its message after 3 receives; last error: .*502/,
    );
    expect(h.eventTypes().at(-1)).toBe("EVSE Decommission Failed");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBeUndefined();
  });

  it("resends events that did not reach the bus, with their original ids", async () => {
    let busDown = true;
    const attempted: DecommissionEvent[] = [];
    harness = await startDecommissionHarness(dynamo, {
      wrapPublisher: (bus): EventPublisher<DecommissionEvent> => ({
        async publish(events) {
          attempted.push(...events);
          return busDown ? { failed: [...events] } : bus.publish(events);
        },
      }),
    });
    const h = harness;
    const created = await h.create(ARNS.requester, idleDevice(h));
    expect(created.status).toBe(201);
    expect(h.publisher.events).toEqual([]);
    expect((await h.reconciler.run()).republished).toBe(1);
    expect(h.publisher.events).toEqual([]);

    busDown = false;
    expect((await h.reconciler.run()).republished).toBe(1);
    expect(h.publisher.events.map((event) => event.type)).toEqual(["EVSE Decommission Requested"]);
    expect(h.publisher.events[0]?.eventId).toBe(attempted[0]?.eventId);
    expect((await h.reconciler.run()).republished).toBe(0);
  });
});

describe("the pause switch", () => {
  it("holds an approved request until the switch is released; approvals still happen", async () => {
    harness = await startDecommissionHarness(dynamo);
    const h = harness;
    const id = String((await h.create(ARNS.requester, idleDevice(h))).body.id);
    await h.pause.set(true, "ops@example.com", "ev.energy incident");
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    await h.run();
    expect(await status(h, id)).toBe("APPROVED");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBeUndefined();

    h.clock.advance(60 * MINUTE);
    expect(await h.reconciler.run()).toMatchObject({ paused: true, reEnqueued: 0 });
    expect(h.queue.depth).toBe(0);
    expect(await status(h, id)).toBe("APPROVED");

    await h.pause.set(false, "ops@example.com");
    expect((await h.reconciler.run()).reEnqueued).toBe(1);
    await h.run();
    expect(await status(h, id)).toBe("COMPLETED");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
    const actions = (await h.store.get(id))?.history.map((entry) => entry.action);
    expect(actions).toEqual([
      "requested",
      "approved",
      "held",
      "re-enqueued",
      "execution-started",
      "delete-sent",
      "completed",
    ]);
  });

  it("stops a request already retrying, and resumes it after release", async () => {
    harness = await startDecommissionHarness(dynamo);
    const h = harness;
    const id = String((await h.create(ARNS.requester, idleDevice(h))).body.id);
    h.sim.script({ route: "DELETE /v2/evses/{id}", kind: "status", status: 503 });
    expect((await h.approve(ARNS.approverBob, id)).status).toBe(202);
    await h.queue.deliverDue();
    expect(await status(h, id)).toBe("EXECUTING");
    await h.pause.set(true, "ops");
    await h.run();
    expect(await status(h, id)).toBe("EXECUTING");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
    await h.pause.set(false, "ops");
    await h.reconciler.run();
    await h.run();
    expect(await status(h, id)).toBe("COMPLETED");
    expect(h.sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(2);
  });
});
