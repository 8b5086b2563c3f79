/**
 * NEVI-style availability from each device's connectivity and lifecycle timeline. Plain
 * TypeScript, no I/O: the API reads the poll's monthly rollups and hands them here.
 *
 * The definition (README, "Availability"):
 * - A device is **online** while its latest sample is at most the staleness threshold old,
 *   **offline** after that (an outage starts at the last sample plus the threshold, the moment
 *   the poll's own rule calls it offline), **unknown** while it has never reported.
 * - An outage ends at the first sample the poll sees after it.
 * - Time **removed**, **decommissioned** or before the device was first seen is excluded: it is
 *   not part of the fleet then. Unknown time counts against availability but is not an outage.
 * - availability = online / (online + offline + unknown), over the window; outages are the
 *   offline periods overlapping the window (an outage across a boundary counts in both), the
 *   longest clipped to the window. Minutes are raw outage minutes: no excluded-outage
 *   (NEVI's T_excluded) is subtracted. This is NEVI-style availability, not a compliance figure.
 */

/** A device's state in a rollup: online, offline (f), unknown, removed, decommissioned, not yet seen. */
export type StateCode = "o" | "f" | "u" | "r" | "d" | "n";
export const STATE_CODES: readonly StateCode[] = ["o", "f", "u", "r", "d", "n"];

/** What a state code means, for answers. */
export const STATE_NAMES: Record<StateCode, string> = {
  o: "online",
  f: "offline",
  u: "unknown",
  r: "removed",
  d: "decommissioned",
  n: "not-in-fleet",
};

const EXCLUDED: ReadonlySet<StateCode> = new Set(["r", "d", "n"]);

export interface Transition {
  /** Epoch milliseconds from which `code` holds. */
  at: number;
  code: StateCode;
}

/**
 * One device's rollup for one UTC month, as the poll writes it: the state when the poll first
 * wrote the device that month (the state it had since its last transition) and every transition
 * the poll detected that month, in the order it detected them. A transition detected just after
 * midnight may take effect in the previous month: readers of a month also read the next one.
 */
export interface MonthRollup {
  evseId: string;
  /** `YYYY-MM` (UTC). */
  month: string;
  cpid: string | null;
  start: StateCode;
  transitions: Transition[];
}

export interface Window {
  /** Epoch milliseconds, inclusive. */
  from: number;
  /** Epoch milliseconds, exclusive. */
  to: number;
}

export interface Availability {
  /** Window minutes the device was part of the fleet (online + offline + unknown). */
  inFleetMinutes: number;
  onlineMinutes: number;
  /** Raw outage minutes. */
  offlineMinutes: number;
  unknownMinutes: number;
  /** Removed, decommissioned or not yet seen. */
  excludedMinutes: number;
  /** online / inFleet × 100 (three decimals); null when the device was never in the fleet. */
  availabilityPercent: number | null;
  outages: number;
  longestOutageMinutes: number;
  /** The state at the window's end. */
  stateAtEnd: string;
}

const MINUTE_MS = 60_000;

/**
 * A device's timeline from its rollups, in month order: the state at the start of the earliest
 * month read, then every transition in detection order, times made non-decreasing (a late sample
 * can date a transition before the one detected before it; it then takes effect at that one).
 */
export function timelineOf(rollups: readonly MonthRollup[]): {
  initial: StateCode;
  transitions: Transition[];
} {
  const sorted = [...rollups].sort((a, b) => (a.month < b.month ? -1 : a.month > b.month ? 1 : 0));
  const initial = sorted[0]?.start ?? "n";
  const transitions: Transition[] = [];
  let last = Number.NEGATIVE_INFINITY;
  for (const rollup of sorted) {
    for (const transition of rollup.transitions) {
      last = Math.max(last, transition.at);
      transitions.push({ at: last, code: transition.code });
    }
  }
  return { initial, transitions };
}

/**
 * Availability over `window` from a timeline.
 * 1. The state at the window's start: the initial state moved on by every transition at or
 *    before it.
 * 2. Each later transition ends a segment; segments are clipped to the window and summed by state.
 * 3. Consecutive offline segments are one outage; an outage counts if it overlaps the window
 *    for more than zero time, and its length in the window is what `longest` compares.
 */
export function availabilityOver(
  timeline: { initial: StateCode; transitions: readonly Transition[] },
  window: Window,
): Availability {
  const totals: Record<StateCode, number> = { o: 0, f: 0, u: 0, r: 0, d: 0, n: 0 };
  let state = timeline.initial;
  let segmentStart = window.from;
  let outages = 0;
  let longest = 0;
  let outageSoFar = 0;
  const close = (end: number) => {
    const length = Math.max(0, Math.min(end, window.to) - segmentStart);
    if (length <= 0) return;
    totals[state] += length;
    if (state === "f") outageSoFar += length;
  };
  const leave = (next: StateCode) => {
    if (state === "f" && next !== "f" && outageSoFar > 0) {
      outages += 1;
      longest = Math.max(longest, outageSoFar);
      outageSoFar = 0;
    }
  };
  for (const transition of timeline.transitions) {
    if (transition.at <= window.from) {
      state = transition.code;
      continue;
    }
    if (transition.at >= window.to) break;
    close(transition.at);
    leave(transition.code);
    state = transition.code;
    segmentStart = transition.at;
  }
  close(window.to);
  leave("n");
  const inFleet = totals.o + totals.f + totals.u;
  const excluded = totals.r + totals.d + totals.n;
  return {
    inFleetMinutes: minutes(inFleet),
    onlineMinutes: minutes(totals.o),
    offlineMinutes: minutes(totals.f),
    unknownMinutes: minutes(totals.u),
    excludedMinutes: minutes(excluded),
    availabilityPercent: inFleet > 0 ? Math.round((totals.o / inFleet) * 100_000) / 1000 : null,
    outages,
    longestOutageMinutes: minutes(longest),
    stateAtEnd: STATE_NAMES[stateAt(timeline, window.to)],
  };
}

/** The state just before `at` (the window's end is exclusive). */
function stateAt(
  timeline: { initial: StateCode; transitions: readonly Transition[] },
  at: number,
): StateCode {
  let state = timeline.initial;
  for (const transition of timeline.transitions) {
    if (transition.at >= at) break;
    state = transition.code;
  }
  return state;
}

/** Sums of many devices' figures (minutes add up; the percentage is recomputed). */
export function totalOf(rows: readonly Availability[]): Omit<Availability, "stateAtEnd"> & {
  devices: number;
} {
  let inFleet = 0;
  let online = 0;
  let offline = 0;
  let unknown = 0;
  let excluded = 0;
  let outages = 0;
  let longest = 0;
  for (const row of rows) {
    inFleet += row.inFleetMinutes;
    online += row.onlineMinutes;
    offline += row.offlineMinutes;
    unknown += row.unknownMinutes;
    excluded += row.excludedMinutes;
    outages += row.outages;
    longest = Math.max(longest, row.longestOutageMinutes);
  }
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    devices: rows.length,
    inFleetMinutes: round(inFleet),
    onlineMinutes: round(online),
    offlineMinutes: round(offline),
    unknownMinutes: round(unknown),
    excludedMinutes: round(excluded),
    availabilityPercent: inFleet > 0 ? Math.round((online / inFleet) * 100_000) / 1000 : null,
    outages,
    longestOutageMinutes: longest,
  };
}

/** Whether a state is excluded from the fleet (removed, decommissioned, not yet seen). */
export function isExcluded(code: StateCode): boolean {
  return EXCLUDED.has(code);
}

function minutes(ms: number): number {
  return Math.round((ms / MINUTE_MS) * 100) / 100;
}

// ------------------------------------------------------------------ months and time zones

const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** `YYYY-MM` of an instant, in UTC. */
export function monthOf(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}

/** The UTC start of `YYYY-MM`. */
export function monthStart(month: string): number {
  const match = MONTH_PATTERN.exec(month);
  if (!match) throw new Error(`not a month: ${month}`);
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, 1);
}

/** The month `offset` months after `month` (negative: before). */
export function addMonths(month: string, offset: number): string {
  const start = new Date(monthStart(month));
  return monthOf(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + offset, 1));
}

/** The UTC months from the one holding `from` to the one holding the last instant before `to`. */
export function monthsCovering(window: Window): string[] {
  const months: string[] = [];
  const last = monthOf(Math.max(window.from, window.to - 1));
  for (let month = monthOf(window.from); month <= last; month = addMonths(month, 1)) {
    months.push(month);
  }
  return months;
}

/** Whether `zone` is an IANA time zone this runtime knows (not an offset such as `+05:30`). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64 || !/^[A-Za-z]/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds `zone`'s wall clock is ahead of UTC at `at`. */
function zoneOffset(zone: string, at: number): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? 0);
  const wall = Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour"),
    get("minute"),
    get("second"),
  );
  return wall - Math.floor(at / 1000) * 1000;
}

/** The instant `zone`'s wall clock reads midnight on the first of `month`. */
function zoneMonthStart(month: string, zone: string): number {
  const wall = monthStart(month);
  // Two rounds settle the offset across a DST change. A zone whose clocks skipped midnight itself
  // (America/Asuncion on 2023-10-01) gets the month's start an hour early.
  let at = wall - zoneOffset(zone, wall);
  at = wall - zoneOffset(zone, at);
  return at;
}

/** `month` as a window of instants: UTC, or `zone`'s wall-clock month. */
export function monthWindow(month: string, zone?: string): Window {
  if (zone === undefined || zone === "UTC") {
    return { from: monthStart(month), to: monthStart(addMonths(month, 1)) };
  }
  return { from: zoneMonthStart(month, zone), to: zoneMonthStart(addMonths(month, 1), zone) };
}
