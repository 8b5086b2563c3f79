/**
 * The poll's fleet-health bookkeeping, behind the few calls poll.ts makes: records beside each
 * device write (history, monthly rollups), decommissions to record, the fleet tallies and the
 * fleet-wide alert after each page, and the snapshot at each sweep's end. Over one port, so
 * the poll's core stays plain TypeScript.
 */
import type { FleetHealthStore } from "../ports.js";
import {
  decommissionRecorded,
  type RecordSettings,
  recordsFor,
  type WriteRecords,
} from "./device-history.js";
import type { Detection, DeviceState } from "./device-state.js";
import type { Evse } from "./evse.js";
import {
  checkDegraded,
  checkRestored,
  type FleetAlertSettings,
  type FleetDegradedEvent,
  type FleetRestoredEvent,
} from "./fleet-alert.js";
import {
  type FleetProgress,
  type FleetSnapshot,
  freshProgress,
  snapshotOf,
  tallyPage,
} from "./fleet-snapshot.js";

export interface FleetHealthSettings extends RecordSettings, FleetAlertSettings {}

/** A device the page read, with what the poll detected for it. */
export interface PageItem {
  previous: DeviceState | undefined;
  listed: Evse;
  detection: Detection;
}

export class FleetHealth {
  constructor(
    private readonly store: FleetHealthStore,
    private readonly settings: FleetHealthSettings,
  ) {}

  /** The history entries and rollup update to write with a planned device write. */
  recordsFor(
    previous: DeviceState | undefined,
    detection: Detection,
    now: number,
  ): WriteRecords | undefined {
    return recordsFor(previous, detection, now, this.settings);
  }

  /** Writes the records of the device write storing `state`; called alongside that write. */
  record(state: DeviceState, records: WriteRecords): Promise<void> {
    return this.store.record(state, records);
  }

  /**
   * The stored devices of a page's id range that the executor decommissioned since the poll
   * last wrote them: writes (no event) that record the decommission in history and rollups.
   */
  decommissionsIn(unlisted: readonly DeviceState[], now: number) {
    return unlisted.flatMap((previous) => {
      const found = decommissionRecorded(previous, now);
      return found ? [{ previous, listed: null, ...found }] : [];
    });
  }

  /**
   * The fleet progress with a committed page added, and the degraded event it calls for, if
   * any (with the progress that records it, to save only once the event is published).
   */
  afterPage(
    progress: FleetProgress | undefined,
    run: { runId: string; sweepId: string; startedAt: string },
    page: { items: readonly PageItem[]; unlisted: readonly DeviceState[] },
    now: number,
  ): { progress: FleetProgress; alert?: { event: FleetDegradedEvent; progress: FleetProgress } } {
    let newlyOffline = 0;
    let newlyOnline = 0;
    for (const { detection } of page.items) {
      for (const event of detection.events) {
        if (event.type !== "EVSE Connectivity Changed") continue;
        if (event.current.connectivity === "offline") newlyOffline += 1;
        if (event.current.connectivity === "online") newlyOnline += 1;
      }
    }
    const next = tallyPage(progress, run.runId, {
      read: page.items.map(({ detection, listed }) => ({ state: detection.next, listed })),
      unlisted: page.unlisted,
      newlyOffline,
      newlyOnline,
    });
    const alert = checkDegraded(next, run, now, this.settings);
    return alert ? { progress: next, alert } : { progress: next };
  }

  /**
   * What a complete sweep closes with: its snapshot, the restored event it calls for (if any),
   * and the progress the next sweep starts from, given whether that event was published.
   */
  closeSweep(
    progress: FleetProgress | undefined,
    sweep: { sweepId: string; startedAt: string },
    now: number,
  ): {
    snapshot: FleetSnapshot;
    restored: FleetRestoredEvent | undefined;
    next: (restoredPublished: boolean) => { snapshot: FleetSnapshot; progress: FleetProgress };
  } {
    const current = progress ?? freshProgress();
    const snapshot = snapshotOf(current, { ...sweep, completedAt: new Date(now).toISOString() });
    const restored = checkRestored(current, snapshot, now, this.settings);
    const lastComplete = {
      sweepId: sweep.sweepId,
      active: snapshot.devices.active,
      offline: snapshot.devices.offline,
    };
    return {
      snapshot,
      restored,
      next: (restoredPublished) => {
        const degraded = restored && restoredPublished ? null : current.degraded;
        return {
          snapshot: { ...snapshot, connectivityDegraded: degraded !== null },
          progress: freshProgress({ lastComplete, degraded }),
        };
      },
    };
  }

  /**
   * Keeps `snapshot` as the latest. The poll writes it before it saves the sweep's completion:
   * a run that dies in between writes the same snapshot again, and no sweep goes without one.
   */
  saveSnapshot(snapshot: FleetSnapshot): Promise<void> {
    return this.store.putSnapshot(snapshot);
  }
}
