/**
 * The fleet as a whole, counted from what the sweep reads: running tallies that ride in the sweep
 * checkpoint page by page (so a page is counted once, by the run whose checkpoint holds it,
 * however the sweep is split over runs or a run dies), and the snapshot a complete sweep makes of
 * them. Plain TypeScript, no I/O, no extra ev.energy request.
 */
import type { DeviceState } from "./device-state.js";
import type { Evse } from "./evse.js";
import type { FleetDegradedEvent } from "./fleet-alert.js";

/** Counts over the devices the sweep's committed pages read. */
export interface FleetTally {
  pages: number;
  /** Runs that committed a page of this sweep. */
  runs: number;
  /** Active devices listed. */
  active: number;
  online: number;
  offline: number;
  unknown: number;
  /** Online devices plugged in / charging, and their power (W): offline samples are not "now". */
  pluggedIn: number;
  charging: number;
  chargePowerWatts: number;
  exportPowerWatts: number;
  /** Active devices by lock mode (`none`: ev.energy says null or nothing usable). */
  lockUnlocked: number;
  lockSmart: number;
  lockLocked: number;
  lockNone: number;
  /** Stored devices the pages' id ranges held but ev.energy no longer lists. */
  removed: number;
  decommissioned: number;
  /** Devices this sweep found newly offline / back online (connectivity changes). */
  newlyOffline: number;
  newlyOnline: number;
}

/** The fleet part of the sweep checkpoint. */
export interface FleetProgress {
  tally: FleetTally;
  /** The run that committed the last page: a new one counts one more run. */
  lastRunId: string | null;
  /** The last complete sweep's counts: the base of the fleet-wide alert. */
  lastComplete: { sweepId: string; active: number; offline: number } | null;
  /**
   * Set while the fleet is degraded (no restored event since). `unpublished` holds the degraded
   * event while publishing it has failed: each later page and sweep tries again, under the same
   * id, so one failed publish never loses the alert (the tallies it was decided on are gone by
   * the next sweep).
   */
  degraded: {
    sweepId: string;
    at: string;
    baselineOffline: number;
    unpublished?: FleetDegradedEvent;
  } | null;
}

/** What a complete sweep saw: served at GET /fleet, kept as the latest snapshot, metrics. */
export interface FleetSnapshot {
  sweepId: string;
  startedAt: string;
  completedAt: string;
  runs: number;
  pages: number;
  devices: { active: number; online: number; offline: number; unknown: number };
  lifecycle: { active: number; removed: number; decommissioned: number };
  pluggedIn: number;
  charging: number;
  chargePowerWatts: number;
  exportPowerWatts: number;
  lockMode: { UNLOCKED: number; SMART: number; LOCKED: number; none: number };
  newlyOffline: number;
  newlyOnline: number;
  /** The fleet-wide alert's state when the sweep completed. */
  connectivityDegraded: boolean;
}

export function emptyTally(): FleetTally {
  return {
    pages: 0,
    runs: 0,
    active: 0,
    online: 0,
    offline: 0,
    unknown: 0,
    pluggedIn: 0,
    charging: 0,
    chargePowerWatts: 0,
    exportPowerWatts: 0,
    lockUnlocked: 0,
    lockSmart: 0,
    lockLocked: 0,
    lockNone: 0,
    removed: 0,
    decommissioned: 0,
    newlyOffline: 0,
    newlyOnline: 0,
  };
}

export function freshProgress(
  previous?: Pick<FleetProgress, "lastComplete" | "degraded">,
): FleetProgress {
  return {
    tally: emptyTally(),
    lastRunId: null,
    lastComplete: previous?.lastComplete ?? null,
    degraded: previous?.degraded ?? null,
  };
}

/** One listed device as the page read it: its state after detection and what ev.energy said. */
export interface ReadDevice {
  state: DeviceState;
  listed: Evse;
}

/**
 * The progress with one committed page added.
 * 1. Each listed device counts once, in the state the poll derived from what ev.energy listed
 *    (connectivity as of the read). Power is what the sample said, even a move under the change
 *    threshold, so the totals are the fleet's, not the last stored values.
 * 2. Stored devices in the page's id range that ev.energy did not list count by lifecycle (an
 *    active one vanished: it is removed when the sweep completes).
 * 3. The page's connectivity changes add to the sweep's newly offline / online counts.
 */
export function tallyPage(
  progress: FleetProgress | undefined,
  runId: string,
  page: {
    read: readonly ReadDevice[];
    unlisted: readonly DeviceState[];
    newlyOffline: number;
    newlyOnline: number;
  },
): FleetProgress {
  const base = progress ?? freshProgress();
  const tally = { ...base.tally };
  tally.pages += 1;
  if (base.lastRunId !== runId) tally.runs += 1;
  for (const { state, listed } of page.read) {
    tally.active += 1;
    tally[state.connectivity] += 1;
    if (state.lockMode === "UNLOCKED") tally.lockUnlocked += 1;
    else if (state.lockMode === "SMART") tally.lockSmart += 1;
    else if (state.lockMode === "LOCKED") tally.lockLocked += 1;
    else tally.lockNone += 1;
    if (state.connectivity !== "online") continue;
    const sample = listed.latestStatusLog;
    const fresh = sample && sample.sampledAt === state.sampledAt ? sample : undefined;
    if (state.isPluggedIn === true) tally.pluggedIn += 1;
    if (state.isCharging === true) {
      tally.charging += 1;
      tally.chargePowerWatts += watts(fresh?.chargeRateWatts, state.chargeRateWatts);
    }
    tally.exportPowerWatts += watts(fresh?.exportPowerWatts, state.exportPowerWatts);
  }
  for (const stored of page.unlisted) {
    if (stored.lifecycle === "decommissioned") tally.decommissioned += 1;
    else tally.removed += 1;
  }
  tally.newlyOffline += page.newlyOffline;
  tally.newlyOnline += page.newlyOnline;
  return { ...base, tally, lastRunId: runId };
}

/** The snapshot of a complete sweep's tally. */
export function snapshotOf(
  progress: FleetProgress | undefined,
  sweep: { sweepId: string; startedAt: string; completedAt: string },
): FleetSnapshot {
  const { tally, degraded } = progress ?? freshProgress();
  return {
    sweepId: sweep.sweepId,
    startedAt: sweep.startedAt,
    completedAt: sweep.completedAt,
    runs: tally.runs,
    pages: tally.pages,
    devices: {
      active: tally.active,
      online: tally.online,
      offline: tally.offline,
      unknown: tally.unknown,
    },
    lifecycle: {
      active: tally.active,
      removed: tally.removed,
      decommissioned: tally.decommissioned,
    },
    pluggedIn: tally.pluggedIn,
    charging: tally.charging,
    chargePowerWatts: tally.chargePowerWatts,
    exportPowerWatts: tally.exportPowerWatts,
    lockMode: {
      UNLOCKED: tally.lockUnlocked,
      SMART: tally.lockSmart,
      LOCKED: tally.lockLocked,
      none: tally.lockNone,
    },
    newlyOffline: tally.newlyOffline,
    newlyOnline: tally.newlyOnline,
    connectivityDegraded: degraded !== null,
  };
}

/** A sample's power when it is a number, else the stored value; null counts as nothing. */
function watts(sampled: number | null | undefined, stored: number | null): number {
  const value = typeof sampled === "number" && Number.isFinite(sampled) ? sampled : stored;
  return value !== null && value > 0 ? value : 0;
}

/** One line for a feed: `1,000 EVSEs: 812 online, …`. */
export function summaryLine(snapshot: FleetSnapshot): string {
  const n = (value: number) => value.toLocaleString("en-GB");
  const kw = (watts: number) => `${(watts / 1000).toFixed(1)} kW`;
  const { devices, lifecycle } = snapshot;
  return (
    `${n(devices.active)} EVSEs: ${n(devices.online)} online, ${n(devices.offline)} offline, ` +
    `${n(devices.unknown)} unknown; ${n(snapshot.pluggedIn)} plugged in, ${n(snapshot.charging)} ` +
    `charging ${kw(snapshot.chargePowerWatts)}, exporting ${kw(snapshot.exportPowerWatts)}; ` +
    `${n(lifecycle.removed)} removed, ${n(lifecycle.decommissioned)} decommissioned` +
    (snapshot.connectivityDegraded ? "; CONNECTIVITY DEGRADED" : "")
  );
}
