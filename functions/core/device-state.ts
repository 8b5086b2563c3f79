/**
 * Change detection: the previous last-seen state of a device and what ev.energy lists now →
 * the next state and the events that describe the difference. Plain TypeScript, no I/O.
 */
import type { Evse, LockMode } from "./evse.js";
import { uuidFromText } from "./uuid.js";

export type Connectivity = "online" | "offline" | "unknown";
/** `removed`: a complete sweep no longer listed it. `decommissioned`: we deleted it. */
export type Lifecycle = "active" | "removed" | "decommissioned";

/** The last-seen state of one EVSE, as stored in the table and carried by events. */
export interface DeviceState {
  evseId: string;
  cpid: string | null;
  lockMode: LockMode | null;
  isPluggedIn: boolean | null;
  isCharging: boolean | null;
  chargeRateWatts: number | null;
  exportPowerWatts: number | null;
  /** ISO 8601 of the status sample the state reflects; null when the device never reported. */
  sampledAt: string | null;
  connectivity: Connectivity;
  lifecycle: Lifecycle;
  firstSeenAt: string;
  lastChangedAt: string;
  /** Refreshed on every write and by the heartbeat. */
  lastSeenAt: string;
  /** Bumped by every state change; writes are conditional on it. */
  version: number;
  /**
   * When the webhook path published this state's change, until the poll first reads the device
   * after it: the poll then measures the lead the webhook path gained (its read time minus this)
   * and clears it. Internal: never published, never served (see `publicState`).
   */
  webhookChangedAt?: string;
}

/** A state as events and the API show it: without what only the two paths keep between them. */
export function publicState(state: DeviceState): DeviceState {
  const { webhookChangedAt: _internal, ...shown } = state;
  return shown;
}

/** The fields whose change is an `EVSE Status Changed`. */
export const STATUS_FIELDS = [
  "cpid",
  "lockMode",
  "isPluggedIn",
  "isCharging",
  "chargeRateWatts",
  "exportPowerWatts",
] as const satisfies readonly (keyof DeviceState)[];
export type StatusField = (typeof STATUS_FIELDS)[number];

export type ChangeType =
  | "EVSE Discovered"
  | "EVSE Status Changed"
  | "EVSE Connectivity Changed"
  | "EVSE Removed";

/**
 * Which path saw a change first: the scheduled sweep, or a webhook's refresh of one device.
 * Carried by the event for operators and lead-time metrics, never part of its id: both paths
 * derive the same id for the same change, so consumers see one change once.
 */
export type ObservedBy = "poll" | "webhook";

export interface FieldChange {
  field: StatusField;
  previous: unknown;
  current: unknown;
}

export interface ChangeEvent {
  /** Derived from device, change type, new version and new content: stable across re-runs. */
  eventId: string;
  type: ChangeType;
  evseId: string;
  cpid: string | null;
  previous: DeviceState | null;
  current: DeviceState;
  changedFields?: FieldChange[];
  sampledAt: string | null;
  detectedAt: string;
  observedBy: ObservedBy;
}

export interface DetectionSettings {
  stalenessMs: number;
  chargeRateThresholdWatts: number;
  heartbeatMs: number;
}

export type WriteKind = "none" | "heartbeat" | "change";

export interface Detection {
  next: DeviceState;
  events: ChangeEvent[];
  write: WriteKind;
  /**
   * The poll's first read of a device after the webhook path published its change: how long
   * after the webhook path's detection the poll got to it (the webhook path's lead).
   */
  webhookLeadMs?: number;
}

/** Connectivity from the age of the newest sample; unknown when there is none. */
export function connectivityAt(sampledAt: string | null, now: number, stalenessMs: number) {
  if (sampledAt === null) return "unknown" as const;
  const age = now - Date.parse(sampledAt);
  return age > stalenessMs ? ("offline" as const) : ("online" as const);
}

/**
 * Compares a listed EVSE with its stored state.
 * 1. Fields the reader could not parse (`undefined`) keep their stored value.
 * 2. A status sample older than the stored one is not applied.
 * 3. Power changes under the threshold are not changes (the stored value stays).
 * 4. Connectivity is re-evaluated against `now` even when no new sample arrived.
 * 5. A real change bumps the version once and yields one event per change type.
 * 6. No change: a heartbeat write when `lastSeenAt` is older than the heartbeat interval.
 * `observedBy` only labels the events (the poll unless the webhook path says otherwise).
 */
export function detectChange(
  previous: DeviceState | undefined,
  observed: Evse,
  now: number,
  settings: DetectionSettings,
  observedBy: ObservedBy = "poll",
): Detection {
  const nowIso = new Date(now).toISOString();
  if (previous === undefined || previous.lifecycle !== "active") {
    const current = discoveredState(previous, observed, now, nowIso, settings);
    return {
      next: current,
      events: [changeEvent("EVSE Discovered", previous ?? null, current, nowIso, observedBy)],
      write: "change",
    };
  }

  const candidate: DeviceState = { ...previous };
  // An observation whose sample is older than the stored one was made before it (a poll page
  // listed before a webhook refresh): none of it is newer, its cpid and lock mode included.
  if (!observedSince(previous, observed)) {
    if (observed.cpid !== undefined) candidate.cpid = observed.cpid;
    if (observed.lockMode !== undefined) candidate.lockMode = observed.lockMode;
  }
  const sample = observed.latestStatusLog;
  if (sample && isNotOlder(sample.sampledAt, previous.sampledAt)) {
    candidate.sampledAt = sample.sampledAt;
    if (sample.isPluggedIn !== undefined) candidate.isPluggedIn = sample.isPluggedIn;
    if (sample.isCharging !== undefined) candidate.isCharging = sample.isCharging;
    candidate.chargeRateWatts = powerAfter(
      previous.chargeRateWatts,
      sample.chargeRateWatts,
      settings.chargeRateThresholdWatts,
    );
    candidate.exportPowerWatts = powerAfter(
      previous.exportPowerWatts,
      sample.exportPowerWatts,
      settings.chargeRateThresholdWatts,
    );
  }
  candidate.connectivity = connectivityAt(candidate.sampledAt, now, settings.stalenessMs);

  const changedFields: FieldChange[] = STATUS_FIELDS.filter(
    (field) => candidate[field] !== previous[field],
  ).map((field) => ({ field, previous: previous[field], current: candidate[field] }));
  const connectivityChanged = candidate.connectivity !== previous.connectivity;

  // The poll reaching a change the webhook path published first: it measures the lead and
  // clears the mark (with the heartbeat write it makes for it, or with its own change).
  const lead = webhookLead(previous, now, observedBy);
  if (changedFields.length === 0 && !connectivityChanged) {
    const heartbeatDue = now - Date.parse(previous.lastSeenAt) >= settings.heartbeatMs;
    if (lead !== undefined) {
      const { webhookChangedAt: _measured, ...next } = { ...candidate, lastSeenAt: nowIso };
      return { next, events: [], write: "heartbeat", webhookLeadMs: lead };
    }
    // A newer sample alone is not a change; the stored one is refreshed with the heartbeat.
    const next = heartbeatDue ? { ...candidate, lastSeenAt: nowIso } : previous;
    return { next, events: [], write: heartbeatDue ? "heartbeat" : "none" };
  }

  const { webhookChangedAt: _previousMark, ...changed } = candidate;
  const next: DeviceState = {
    ...changed,
    lastChangedAt: nowIso,
    lastSeenAt: nowIso,
    version: previous.version + 1,
    ...(observedBy === "webhook" ? { webhookChangedAt: nowIso } : {}),
  };
  const events: ChangeEvent[] = [];
  if (changedFields.length > 0) {
    events.push(
      changeEvent("EVSE Status Changed", previous, next, nowIso, observedBy, changedFields),
    );
  }
  if (connectivityChanged) {
    events.push(changeEvent("EVSE Connectivity Changed", previous, next, nowIso, observedBy));
  }
  return { next, events, write: "change", ...(lead === undefined ? {} : { webhookLeadMs: lead }) };
}

/** The webhook path's lead over the poll, when the poll reads a change it published first. */
function webhookLead(previous: DeviceState, now: number, observedBy: ObservedBy) {
  if (observedBy !== "poll" || previous.webhookChangedAt === undefined) return undefined;
  return Math.max(0, now - Date.parse(previous.webhookChangedAt));
}

/** A device a complete sweep did not list (only the poll removes): one `EVSE Removed`. */
export function detectRemoval(previous: DeviceState, now: number): Detection {
  const nowIso = new Date(now).toISOString();
  const next: DeviceState = {
    ...previous,
    lifecycle: "removed",
    lastChangedAt: nowIso,
    lastSeenAt: nowIso,
    version: previous.version + 1,
  };
  return {
    next,
    events: [changeEvent("EVSE Removed", previous, next, nowIso, "poll")],
    write: "change",
  };
}

function discoveredState(
  previous: DeviceState | undefined,
  observed: Evse,
  now: number,
  nowIso: string,
  settings: DetectionSettings,
): DeviceState {
  const sample = observed.latestStatusLog ?? undefined;
  const sampledAt = sample?.sampledAt ?? null;
  return {
    evseId: observed.id,
    cpid: observed.cpid ?? null,
    lockMode: observed.lockMode ?? null,
    isPluggedIn: sample?.isPluggedIn ?? null,
    isCharging: sample?.isCharging ?? null,
    chargeRateWatts: sample?.chargeRateWatts ?? null,
    exportPowerWatts: sample?.exportPowerWatts ?? null,
    sampledAt,
    connectivity: connectivityAt(sampledAt, now, settings.stalenessMs),
    lifecycle: "active",
    firstSeenAt: previous?.firstSeenAt ?? nowIso,
    lastChangedAt: nowIso,
    lastSeenAt: nowIso,
    version: (previous?.version ?? 0) + 1,
  };
}

/**
 * Whether the stored state holds a newer sample than `observed` carries: another writer saw the
 * device after this observation was made, and the observation must not be written over it.
 */
export function observedSince(stored: DeviceState | undefined, observed: Evse): boolean {
  const sample = observed.latestStatusLog?.sampledAt;
  if (stored?.sampledAt == null || sample == null) return false;
  return Date.parse(stored.sampledAt) > Date.parse(sample);
}

function isNotOlder(sampledAt: string, stored: string | null): boolean {
  return stored === null || Date.parse(sampledAt) >= Date.parse(stored);
}

/** Unknown keeps the stored value; a move under the threshold between two numbers is noise. */
function powerAfter(
  stored: number | null,
  observed: number | null | undefined,
  thresholdWatts: number,
): number | null {
  if (observed === undefined) return stored;
  if (stored !== null && observed !== null && Math.abs(observed - stored) < thresholdWatts) {
    return stored;
  }
  return observed;
}

function changeEvent(
  type: ChangeType,
  previous: DeviceState | null,
  current: DeviceState,
  detectedAt: string,
  observedBy: ObservedBy,
  changedFields?: FieldChange[],
): ChangeEvent {
  return {
    eventId: eventIdFor(type, current),
    type,
    evseId: current.evseId,
    cpid: current.cpid,
    previous: previous && publicState(previous),
    current: publicState(current),
    ...(changedFields ? { changedFields } : {}),
    sampledAt: current.sampledAt,
    detectedAt,
    observedBy,
  };
}

/**
 * The event id: device, change type, new version, and the values that make up this change
 * (status fields for a status change, the connectivity for a connectivity change). A run that
 * dies after publishing derives the same id for the same change, even if the device reported
 * new samples meanwhile; if its status changed again, the new change gets a new id instead of
 * hiding behind the old one. Not the path that observed it, nor the detection time: the poll
 * and the webhook path seeing the same change derive the same id.
 */
function eventIdFor(type: ChangeType, state: DeviceState): string {
  const content =
    type === "EVSE Status Changed"
      ? STATUS_FIELDS.map((field) => String(state[field])).join("|")
      : type === "EVSE Connectivity Changed"
        ? state.connectivity
        : "";
  return uuidFromText(`${state.evseId}|${type}|${state.version}|${content}`);
}
