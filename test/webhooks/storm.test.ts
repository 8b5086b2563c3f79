/**
 * A storm of webhooks far beyond the webhook share, with the poll sweeping every 5 minutes:
 * no sliding hour holds more refreshes than the share, and every change reaches the bus (by
 * the next sweep at the latest) under one id.
 */
import { afterEach, describe, expect, it } from "vitest";
import { busiestWindow } from "../../functions/core/webhooks/budget.js";
import { seededRandom } from "../../local/manual-clock.js";
import { useDynalite } from "../support/dynamo.js";
import { startWebhookHarness, subSessionWebhook } from "../support/webhook-harness.js";

const dynamo = useDynalite();
let harness: Awaited<ReturnType<typeof startWebhookHarness>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;

describe("a webhook storm", () => {
  it("stays within the share in every sliding hour, and every change still reaches the bus", async () => {
    // Limit 1000, webhook share 0.02: 20 requests an hour for refreshes.
    const h = await startWebhookHarness(dynamo, {
      simulator: { fleetSize: 150 },
      workerEnv: { WEBHOOK_BUDGET_SHARE: "0.02" },
    });
    harness = h;
    await h.poll();
    const random = seededRandom(5);
    const outcomes = new Map<string, number>();
    for (let minute = 1; minute <= 150; minute += 1) {
      h.clock.advance(MINUTE);
      h.sim.fleet.sampleAll();
      for (let n = 0; n < 3; n += 1) {
        const device = h.sim.fleet.list()[Math.floor(random() * 150)];
        if (!device) continue;
        const charging = !(device.status?.isCharging ?? false);
        h.sim.fleet.update(device.id, {
          status: {
            isPluggedIn: true,
            isCharging: charging,
            chargeRateWatts: charging ? 7_000 : 0,
          },
        });
        const at = h.clock.now();
        const webhook = subSessionWebhook(charging ? "created" : "ended", device.id, {
          start: at - MINUTE,
          ...(charging ? {} : { end: at }),
          receivedAt: at,
        });
        const { outcome } = await h.deliver(webhook);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      if (minute % 5 === 0) await h.poll();
    }
    await h.poll();

    const share = 20;
    // The worker's one token exchange counts too.
    const refreshes = h.refreshRequests().map((entry) => entry.at);
    expect(busiestWindow(refreshes) + 1).toBeLessThanOrEqual(share);
    // Used, not just respected: a refresh reserves its worst case (4), so up to 3 stay unspent.
    expect(busiestWindow(refreshes)).toBeGreaterThanOrEqual(share - 4);
    expect(outcomes.get("budget")).toBeGreaterThan(300);
    expect(outcomes.get("refreshed")).toBeGreaterThan(20);

    // Every device's final state is on the bus: its stored state is the simulator's.
    for (const device of h.sim.fleet.list()) {
      const stored = await h.devices.get(device.id);
      expect(stored?.isCharging, device.id).toBe(device.status?.isCharging ?? null);
    }
    // One id per change: each device version was published under one id.
    const idsByChange = new Map<string, Set<string>>();
    for (const event of h.publisher.events) {
      const key = `${event.evseId}|${event.type}|${event.current.version}`;
      idsByChange.set(key, (idsByChange.get(key) ?? new Set()).add(event.eventId));
    }
    expect([...idsByChange.values()].filter((ids) => ids.size > 1)).toEqual([]);
    const observers = new Set(h.publisher.events.map((event) => event.observedBy));
    expect(observers).toEqual(new Set(["poll", "webhook"]));
  });
});
