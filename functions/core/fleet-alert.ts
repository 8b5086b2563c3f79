/**
 * One alert for a fleet-wide event: when the running count of devices newly offline in the
 * current sweep reaches a share of the last complete sweep's active fleet, one
 * `EVSE Fleet Connectivity Degraded`; once a complete sweep finds the fleet back, one
 * `EVSE Fleet Connectivity Restored`. A small state machine over the sweep checkpoint's fleet
 * progress; plain TypeScript, no I/O. Per-device events are untouched: their ids never depend
 * on it.
 */
import type { FleetProgress, FleetSnapshot } from "./fleet-snapshot.js";
import { uuidFromText } from "./uuid.js";

export const FLEET_DEGRADED = "EVSE Fleet Connectivity Degraded";
export const FLEET_RESTORED = "EVSE Fleet Connectivity Restored";
export const FLEET_EVENT_TYPES = [FLEET_DEGRADED, FLEET_RESTORED] as const;

export interface FleetDegradedEvent {
  eventId: string;
  type: typeof FLEET_DEGRADED;
  detectedAt: string;
  sweepId: string;
  /** Devices this sweep found newly offline, so far. */
  newlyOffline: number;
  /** Active devices of the last complete sweep. */
  activeFleet: number;
  /** The configured share, and the count it makes of activeFleet. */
  thresholdShare: number;
  threshold: number;
  /** Devices read so far in this sweep. */
  devicesRead: number;
  /** Devices offline in the last complete sweep. */
  baselineOffline: number;
  /** From the sweep's start to this detection. */
  window: { from: string; to: string };
}

export interface FleetRestoredEvent {
  eventId: string;
  type: typeof FLEET_RESTORED;
  detectedAt: string;
  /** The sweep that found the fleet back. */
  sweepId: string;
  degradedSweepId: string;
  degradedAt: string;
  /** Devices offline in this complete sweep. */
  offline: number;
  baselineOffline: number;
  activeFleet: number;
  /** From the degradation to this detection. */
  window: { from: string; to: string };
}

export type FleetEvent = FleetDegradedEvent | FleetRestoredEvent;

/** Whether a published event is a fleet-wide one. */
export function isFleetEvent(event: { type: string }): event is FleetEvent {
  return (FLEET_EVENT_TYPES as readonly string[]).includes(event.type);
}

export interface FleetAlertSettings {
  /** Share of the last complete sweep's active fleet, in (0, 1]; default 0.2. */
  degradedShare: number;
}

/** The count of newly offline devices that makes the fleet degraded. */
export function degradedThreshold(activeFleet: number, share: number): number {
  return Math.max(1, Math.ceil(share * activeFleet));
}

/**
 * After a page: a degraded event when the fleet is not yet degraded, a complete sweep came
 * before, and this sweep's newly offline count has reached the threshold. The returned progress
 * records the degradation; the caller saves it only once the event is published.
 */
export function checkDegraded(
  progress: FleetProgress,
  sweep: { sweepId: string; startedAt: string },
  now: number,
  settings: FleetAlertSettings,
): { event: FleetDegradedEvent; progress: FleetProgress } | undefined {
  const base = progress.lastComplete;
  if (progress.degraded !== null || base === null || base.active <= 0) return undefined;
  const threshold = degradedThreshold(base.active, settings.degradedShare);
  if (progress.tally.newlyOffline < threshold) return undefined;
  const at = new Date(now).toISOString();
  return {
    event: {
      // One per sweep: a run that re-publishes it after dying gives it the same id.
      eventId: uuidFromText(`fleet|${FLEET_DEGRADED}|${sweep.sweepId}`),
      type: FLEET_DEGRADED,
      detectedAt: at,
      sweepId: sweep.sweepId,
      newlyOffline: progress.tally.newlyOffline,
      activeFleet: base.active,
      thresholdShare: settings.degradedShare,
      threshold,
      devicesRead: progress.tally.active,
      baselineOffline: base.offline,
      window: { from: sweep.startedAt, to: at },
    },
    progress: {
      ...progress,
      degraded: { sweepId: sweep.sweepId, at, baselineOffline: base.offline },
    },
  };
}

/**
 * At a sweep's completion, while degraded: a restored event when the devices offline are back
 * to within half the threshold of the offline count before the degradation (half, so that a
 * fleet hovering at the threshold does not page on every sweep).
 */
export function checkRestored(
  progress: FleetProgress,
  snapshot: FleetSnapshot,
  now: number,
  settings: FleetAlertSettings,
): FleetRestoredEvent | undefined {
  const degraded = progress.degraded;
  // Never a restored event before its degraded one made it onto the bus.
  if (degraded === null || degraded.unpublished !== undefined) return undefined;
  const active = snapshot.devices.active;
  const margin = Math.floor(degradedThreshold(active, settings.degradedShare) / 2);
  if (snapshot.devices.offline > degraded.baselineOffline + margin) return undefined;
  const at = new Date(now).toISOString();
  return {
    eventId: uuidFromText(`fleet|${FLEET_RESTORED}|${snapshot.sweepId}`),
    type: FLEET_RESTORED,
    detectedAt: at,
    sweepId: snapshot.sweepId,
    degradedSweepId: degraded.sweepId,
    degradedAt: degraded.at,
    offline: snapshot.devices.offline,
    baselineOffline: degraded.baselineOffline,
    activeFleet: active,
    window: { from: degraded.at, to: at },
  };
}
