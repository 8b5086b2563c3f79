/**
 * What the poll keeps beside a device write: one history entry per change it published (and per
 * decommission it finds), and the device's monthly availability rollup. Plain TypeScript, no I/O:
 * the records ride in the sweep checkpoint with the write they belong to (compact: what the
 * write's own state already says is taken from it when they are written), so a run that dies
 * before they have landed leaves them, unchanged, to the next run.
 */
import { monthOf, monthStart, type StateCode } from "./availability.js";
import type { ChangeEvent, ChangeType, Detection, DeviceState } from "./device-state.js";

/** A history entry's kind: a published change, or a decommission the executor carried out. */
export type HistoryType = ChangeType | "EVSE Decommissioned";

/** The part of a device's state a history entry keeps: what it was after the change. */
export interface HistoryState {
  cpid: string | null;
  lockMode: DeviceState["lockMode"];
  isPluggedIn: boolean | null;
  isCharging: boolean | null;
  chargeRateWatts: number | null;
  exportPowerWatts: number | null;
  sampledAt: string | null;
  connectivity: DeviceState["connectivity"];
  lifecycle: DeviceState["lifecycle"];
  version: number;
}

export interface HistoryEntry {
  evseId: string;
  /** When the change was detected: the event's `detectedAt`. */
  at: string;
  type: HistoryType;
  /** The published event's id; null for a decommission (the executor published its own events). */
  eventId: string | null;
  /** Which path saw the change: the poll's sweep, a webhook's refresh, or the executor. */
  observedBy: ChangeEvent["observedBy"] | "executor";
  changes: Array<{ field: string; previous: unknown; current: unknown }>;
  state: HistoryState;
}

/** A history entry as the checkpoint keeps it: the device and its state come from the write. */
export type HistoryRecord = Omit<HistoryEntry, "evseId" | "state">;

/** One device's monthly rollup update: transitions appended, the month's start state if new. */
export interface RollupUpdate {
  evseId: string;
  cpid: string | null;
  /** `YYYY-MM` (UTC) of the detection: the rollup item written. */
  month: string;
  /** The state before this write; kept only by the month's first write. */
  start: StateCode;
  /** `<epoch seconds><code>`, e.g. `1772438400f`, in detection order. */
  transitions: string[];
}

/** A rollup update as the checkpoint keeps it: the device and its cpid come from the write. */
export type RollupRecord = Omit<RollupUpdate, "evseId" | "cpid">;

/** Everything written beside one device write, before it. */
export interface WriteRecords {
  history: HistoryRecord[];
  rollup: RollupRecord | null;
}

/** The history entries of a write's records, completed from the state the write stores. */
export function historyEntries(state: DeviceState, records: WriteRecords): HistoryEntry[] {
  const after = stateOf(state);
  return records.history.map((record) => ({ evseId: state.evseId, ...record, state: after }));
}

/** The rollup update of a write's records, completed from the state the write stores. */
export function rollupUpdate(state: DeviceState, records: WriteRecords): RollupUpdate | null {
  return records.rollup && { evseId: state.evseId, cpid: state.cpid, ...records.rollup };
}

export interface RecordSettings {
  /** The staleness threshold: an outage starts this long after the last sample. */
  stalenessMs: number;
}

/** The state code of a stored state. */
export function codeOf(state: DeviceState | undefined): StateCode {
  if (state === undefined) return "n";
  if (state.lifecycle === "removed") return "r";
  if (state.lifecycle === "decommissioned") return "d";
  return state.connectivity === "online" ? "o" : state.connectivity === "offline" ? "f" : "u";
}

/** `<epoch seconds><code>`: the compact form a rollup keeps. */
export function encodeTransition(at: number, code: StateCode): string {
  return `${Math.floor(at / 1000)}${code}`;
}

/**
 * The records of a planned write.
 * 1. One history entry per event, with the changed fields and the state after the change.
 * 2. A rollup transition for each change of connectivity or lifecycle, dated when it took
 *    effect: offline at the last sample plus the staleness threshold, online at the sample that
 *    shows the device back, discovery and removal when detected (never after the detection).
 * 3. The rollup is written when there is a transition, or when this is the device's first
 *    write of the month (its `lastSeenAt`, refreshed by every write, is from an earlier month),
 *    so every device written in a month has that month's rollup.
 */
export function recordsFor(
  previous: DeviceState | undefined,
  detection: Detection,
  now: number,
  settings: RecordSettings,
): WriteRecords | undefined {
  if (detection.write === "none") return undefined;
  const history = detection.events.map((event) => historyOf(event));
  const transitions: string[] = [];
  for (const event of detection.events) {
    const at = effectiveAt(event, settings);
    if (at !== undefined) transitions.push(encodeTransition(at, codeOf(event.current)));
  }
  const firstThisMonth =
    previous === undefined || Date.parse(previous.lastSeenAt) < monthStart(monthOf(now));
  const rollup =
    transitions.length > 0 || firstThisMonth
      ? { month: monthOf(now), start: codeOf(previous), transitions }
      : null;
  if (history.length === 0 && rollup === null) return undefined;
  return { history, rollup };
}

/**
 * A device the executor decommissioned since the poll last wrote it (its `lastChangedAt`, which
 * the executor sets, is not before the poll's `lastSeenAt`): the write that records it (the
 * state as it is, `lastSeenAt` moved past `lastChangedAt`, so it is recorded once) and its
 * records.
 */
export function decommissionRecorded(
  stored: DeviceState,
  now: number,
): { detection: Detection; records: WriteRecords } | undefined {
  if (stored.lifecycle !== "decommissioned") return undefined;
  const changed = Date.parse(stored.lastChangedAt);
  if (changed < Date.parse(stored.lastSeenAt)) return undefined;
  const nowIso = new Date(Math.max(now, changed + 1)).toISOString();
  const at = Math.min(now, Date.parse(stored.lastChangedAt));
  return {
    detection: { next: { ...stored, lastSeenAt: nowIso }, events: [], write: "heartbeat" },
    records: {
      history: [
        {
          at: stored.lastChangedAt,
          type: "EVSE Decommissioned",
          eventId: null,
          observedBy: "executor",
          changes: [{ field: "lifecycle", previous: "active", current: "decommissioned" }],
        },
      ],
      rollup: {
        month: monthOf(now),
        // The state it had before the executor's write, should this be the month's first write.
        start: codeOf({ ...stored, lifecycle: "active" }),
        transitions: [encodeTransition(at, "d")],
      },
    },
  };
}

/**
 * When a change took effect, for the connectivity and lifecycle timeline; undefined for a
 * status-only change.
 */
function effectiveAt(event: ChangeEvent, settings: RecordSettings): number | undefined {
  const detected = Date.parse(event.detectedAt);
  if (event.type === "EVSE Discovered" || event.type === "EVSE Removed") return detected;
  if (event.type !== "EVSE Connectivity Changed") return undefined;
  const sampled =
    event.current.sampledAt === null ? Number.NaN : Date.parse(event.current.sampledAt);
  if (Number.isNaN(sampled)) return detected;
  const at = event.current.connectivity === "offline" ? sampled + settings.stalenessMs : sampled;
  return Math.min(detected, at);
}

function historyOf(event: ChangeEvent): HistoryRecord {
  const previous = event.previous;
  const current = event.current;
  let changes: HistoryEntry["changes"];
  switch (event.type) {
    case "EVSE Status Changed":
      changes = (event.changedFields ?? []).map(({ field, previous, current }) => ({
        field,
        previous,
        current,
      }));
      break;
    case "EVSE Connectivity Changed":
      changes = [
        {
          field: "connectivity",
          previous: previous?.connectivity ?? null,
          current: current.connectivity,
        },
      ];
      break;
    default:
      changes = [
        { field: "lifecycle", previous: previous?.lifecycle ?? null, current: current.lifecycle },
      ];
  }
  return {
    at: event.detectedAt,
    type: event.type,
    eventId: event.eventId,
    observedBy: event.observedBy,
    changes,
  };
}

function stateOf(state: DeviceState): HistoryState {
  return {
    cpid: state.cpid,
    lockMode: state.lockMode,
    isPluggedIn: state.isPluggedIn,
    isCharging: state.isCharging,
    chargeRateWatts: state.chargeRateWatts,
    exportPowerWatts: state.exportPowerWatts,
    sampledAt: state.sampledAt,
    connectivity: state.connectivity,
    lifecycle: state.lifecycle,
    version: state.version,
  };
}
