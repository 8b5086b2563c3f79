/**
 * The poll's change detection as the webhook path applies it. The two paths write the same
 * device items, so each must notice the other's writes; the poll's writes of a change bump the
 * version, its heartbeats only move `lastSeenAt`, and the webhook path's writes are therefore
 * conditional on both (see handle-webhook.ts). One rule is added here, and why:
 *
 * - A sample newer than the stored one is written even when it changes nothing, as a heartbeat
 *   (the version stays: a change another writer is publishing from this version keeps its id).
 *   The poll stores such a sample only with its heartbeat (to spare writes); a webhook refresh
 *   is one device, and storing what it saw means that a write prepared from an older read (every
 *   device write is conditional on the version and the last heartbeat) conflicts, reads again,
 *   and finds its observation older than the stored one: it then leaves the device alone.
 * - Nothing else is written without a change: heartbeats stay the poll's.
 */
import type { Detection, DetectionSettings, DeviceState } from "../device-state.js";
import { detectChange } from "../device-state.js";
import type { Evse } from "../evse.js";

export function detectForWebhook(
  previous: DeviceState | undefined,
  observed: Evse,
  now: number,
  settings: DetectionSettings,
): Detection {
  const detection = detectChange(previous, observed, now, settings, "webhook");
  if (previous === undefined || detection.write === "change") return detection;
  const sample = observed.latestStatusLog;
  const newer =
    sample !== null &&
    sample !== undefined &&
    (previous.sampledAt === null || Date.parse(sample.sampledAt) > Date.parse(previous.sampledAt));
  if (!newer) return { next: previous, events: [], write: "none" };
  return {
    next: {
      ...previous,
      sampledAt: sample.sampledAt,
      lastSeenAt: new Date(now).toISOString(),
    },
    events: [],
    write: "heartbeat",
  };
}
