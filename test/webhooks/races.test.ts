/**
 * The poll and the webhook path writing one EVSE at once, at the level of their detection: a
 * webhook refresh that stores a newer sample without a change keeps the version, so a change
 * another writer published from that version is written again under the same id; and an
 * observation older than the stored one moves nothing back, its lock mode included.
 */
import { describe, expect, it } from "vitest";
import {
  type DeviceState,
  detectChange,
  observedSince,
} from "../../functions/core/device-state.js";
import type { Evse, LockMode } from "../../functions/core/evse.js";
import { detectForWebhook } from "../../functions/core/webhooks/detect.js";

const settings = { stalenessMs: 15 * 60_000, chargeRateThresholdWatts: 500, heartbeatMs: 120_000 };
const T0 = Date.parse("2026-03-02T08:00:00Z");
const ID = "evse01HSH04KDEWF6Z4DB2J77J74K5";
const listed = (offsetMs: number, charging: boolean, lockMode: LockMode = "SMART"): Evse => ({
  id: ID,
  cpid: "SHIR100001",
  lockMode,
  latestStatusLog: {
    sampledAt: new Date(T0 + offsetMs).toISOString(),
    isPluggedIn: true,
    isCharging: charging,
    chargeRateWatts: charging ? 7400 : 0,
    exportPowerWatts: null,
  },
});
const stored: DeviceState = detectChange(undefined, listed(0, false), T0, settings).next;

describe("one EVSE, two writers", () => {
  it("the poll's change, retried after a webhook stored a newer sample without a change, keeps its id", () => {
    const poll = detectChange(stored, listed(20_000, true), T0 + 25_000, settings);
    const webhook = detectForWebhook(stored, listed(10_000, false), T0 + 26_000, settings);
    expect(webhook).toMatchObject({ write: "heartbeat", events: [] });
    expect(webhook.next.version).toBe(stored.version);
    // The poll's write conflicts (the heartbeat moved); its page is not older: it detects again.
    expect(observedSince(webhook.next, listed(20_000, true))).toBe(false);
    const again = detectChange(webhook.next, listed(20_000, true), T0 + 27_000, settings);
    expect(again.events.map((event) => event.eventId)).toEqual(
      poll.events.map((event) => event.eventId),
    );
  });

  it("two webhook workers on one EVSE (a mode switch's ended and created at once) publish one id", () => {
    const created = detectForWebhook(stored, listed(20_000, true), T0 + 25_000, settings);
    const ended = detectForWebhook(stored, listed(10_000, false), T0 + 25_500, settings);
    const retry = detectForWebhook(ended.next, listed(20_000, true), T0 + 26_000, settings);
    expect(retry.events.map((event) => event.eventId)).toEqual(
      created.events.map((event) => event.eventId),
    );
  });

  it("an observation older than the stored sample moves nothing back, its lock mode included", () => {
    const pollPage = listed(10_000, false, "SMART");
    const webhook = detectForWebhook(
      stored,
      listed(15_000, false, "LOCKED"),
      T0 + 15_000,
      settings,
    );
    expect(webhook.next.lockMode).toBe("LOCKED");
    expect(observedSince(webhook.next, pollPage)).toBe(true);
    const again = detectChange(webhook.next, pollPage, T0 + 16_000, settings);
    expect(again.next.lockMode).toBe("LOCKED");
    expect(again.events).toEqual([]);
  });
});
