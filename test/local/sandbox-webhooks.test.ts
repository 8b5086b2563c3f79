/**
 * The sandbox's webhook path: the simulator signs and sends a webhook when a charger starts
 * charging, the sandbox's endpoint verifies and queues it, the worker puts the change on the
 * feed marked as the webhook's, and the next poll confirms it without a second event.
 * Svix's verifier reads Date: the test sets it to the sandbox's wall clock.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startSandbox } from "../../local/sandbox-app.js";
import { silentLogger } from "../support/poll-harness.js";

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

/** `timers`: the running sandbox's own timers, on the test's fake interval clock. */
async function start(running?: { simulatedMsPerSecond: number }) {
  const dataDir = await mkdtemp(join(tmpdir(), "evse-ops-sandbox-webhooks-"));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const wall = Date.parse("2026-03-02T08:00:00Z");
  vi.useFakeTimers({
    toFake: running ? ["Date", "setInterval", "clearInterval"] : ["Date"],
  });
  vi.setSystemTime(wall);
  const lines: string[] = [];
  const sandbox = await startSandbox({
    dataDir,
    reset: false,
    ports: { api: 0, simulator: 0, dynamodb: 0 },
    fleet: 40,
    deleteRealChargers: false,
    env: {},
    wall: () => Date.now(),
    out: (line) => lines.push(line),
    logger: silentLogger,
    timers: running !== undefined,
    ...running,
  });
  cleanups.push(() => sandbox.close());
  await sandbox.poll("1");
  const sim = sandbox.local.simulator;
  if (!sim) throw new Error("the sandbox runs the simulator by default");
  /** A charger that is not charging now starts. */
  const startCharging = () => {
    const device = sim.fleet.list().find((d) => d.status !== null && d.status.isCharging === false);
    if (!device) throw new Error("every charger is charging");
    sim.fleet.update(device.id, {
      status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7_400 },
    });
    return device.id;
  };
  return { sandbox, sim, lines, startCharging };
}

describe("the sandbox's webhooks", () => {
  it("put a charging start on the feed as the webhook's, and the poll confirms it without a second event", async () => {
    const { sandbox, lines, startCharging } = await start();
    const evseId = startCharging();
    await sandbox.webhooks.tick();
    const seen = lines.filter(
      (line) => line.includes(evseId) && line.includes("isCharging false → true"),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/EVSE Status Changed .*\(webhook\)$/);
    expect(sandbox.webhooks.sender?.deliveries.map((d) => [d.type, d.status])).toEqual([
      ["charging_sub_session.created", 200],
    ]);
    await sandbox.poll("2");
    expect(
      lines.filter((line) => line.includes(evseId) && line.includes("isCharging false → true")),
    ).toHaveLength(1);
  });

  it("does nothing more for a duplicate delivery, switched on like the simulator's other faults", async () => {
    const { sandbox, sim, lines, startCharging } = await start();
    const answer = await fetch(`${sim.origin}/_sim/webhook-faults`, {
      method: "POST",
      body: JSON.stringify({ duplicateRate: 1, reorder: true }),
    });
    expect(await answer.json()).toEqual({ duplicateRate: 1, reorder: true });
    const evseId = startCharging();
    await sandbox.webhooks.tick();
    const deliveries = sandbox.webhooks.sender?.deliveries ?? [];
    expect(deliveries).toHaveLength(2);
    expect(deliveries[0]?.id).toBe(deliveries[1]?.id);
    expect(
      lines.filter((line) => line.includes(evseId) && line.includes("(webhook)")),
    ).toHaveLength(1);
  });

  it("moves simulated time on every second while it runs, so chargers change between polls", async () => {
    const { sandbox } = await start({ simulatedMsPerSecond: 24_000 });
    const before = sandbox.clock.now();
    vi.advanceTimersByTime(3_000);
    // Three real seconds, and three steps of 24 simulated seconds.
    expect(sandbox.clock.now() - before).toBe(3 * 1_000 + 3 * 24_000);
  });

  it("refuses a webhook not signed with the sandbox's secret, changing nothing", async () => {
    const { sandbox, lines } = await start();
    const before = lines.length;
    const answer = await fetch(`${sandbox.decommission.url}/webhooks/ev-energy`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": "msg_forged",
        "svix-timestamp": String(Math.floor(Date.now() / 1000)),
        "svix-signature": "v1,Zm9yZ2VkLXNpZ25hdHVyZS1ub3QtZnJvbS1ldi5lbmVyZ3k=",
      },
      body: "{}",
    });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("content-type")).toBe("application/problem+json");
    await sandbox.webhooks.tick();
    expect(sandbox.webhooks.queue.waiting).toBe(0);
    expect(lines.length).toBe(before);
  });
});
