/**
 * What the API answers about fleet health, from what the poll keeps: the latest snapshot, a
 * device's history, availability per device and per fleet month, and the silent chargers.
 * Plain use cases over one read port; the API validates input before it calls them.
 */
import {
  type Availability,
  addMonths,
  availabilityOver,
  type MonthRollup,
  monthStart,
  monthsCovering,
  timelineOf,
  totalOf,
  type Window,
} from "./availability.js";
import type { Page } from "./decommission/ports.js";
import type { HistoryEntry } from "./device-history.js";
import type { DeviceState } from "./device-state.js";
import { formatDuration } from "./duration.js";
import type { FleetSnapshot } from "./fleet-snapshot.js";

/** A device as the offline index keeps it. */
export type OfflineDevice = Pick<
  DeviceState,
  | "evseId"
  | "cpid"
  | "lockMode"
  | "sampledAt"
  | "connectivity"
  | "lifecycle"
  | "firstSeenAt"
  | "lastChangedAt"
>;

/** The read side of the fleet-health items; the API's role may read them and write none. */
export interface FleetReader {
  latestSnapshot(): Promise<FleetSnapshot | undefined>;
  /**
   * A device's history between `from` and `to` (ISO, inclusive), newest first; expired entries
   * never. `scope` ties a cursor to the query as the caller asked it (a `to` left to default to
   * now moves between pages, and must not make page 2 refuse page 1's cursor).
   */
  history(evseId: string, query: HistoryQuery, now: number): Promise<Page<HistoryEntry>>;
  /** One device's rollups of `months` (those that exist and have not expired). */
  deviceRollups(evseId: string, months: readonly string[], now: number): Promise<MonthRollup[]>;
  /**
   * Up to `limit` devices with a rollup in one of `months`, in id order after the cursor, each
   * with its rollups of `months` and of `supplement` (the month after, whose first transitions
   * may take effect before it).
   */
  fleetRollups(query: FleetRollupQuery, now: number): Promise<Page<DeviceRollups>>;
  /** Active offline devices whose last sample is at or before `sampledBy`, oldest first. */
  offline(query: OfflineQuery): Promise<Page<OfflineDevice>>;
}

export interface HistoryQuery {
  from: string;
  to: string;
  limit: number;
  cursor?: string | undefined;
  scope: string;
}

export interface FleetRollupQuery {
  months: readonly string[];
  supplement: string | undefined;
  limit: number;
  cursor?: string | undefined;
  /** Ties a cursor to the report that issued it. */
  scope: string;
}

/** One device of a fleet report page: its rollups of the report's months. */
export interface DeviceRollups {
  evseId: string;
  cpid: string | null;
  rollups: MonthRollup[];
}

export interface OfflineQuery {
  sampledBy: number;
  limit: number;
  cursor?: string | undefined;
  scope: string;
}

export interface AvailabilityReport {
  window: { from: string; to: string };
  rows: Array<Availability & { evseId: string; cpid: string | null }>;
  totals: ReturnType<typeof totalOf>;
  nextCursor: string | undefined;
}

/** The months to read for a window: those it covers, plus the next one if it has begun. */
function monthsFor(window: Window, now: number) {
  const months = monthsCovering(window);
  const next = addMonths(months.at(-1) ?? "", 1);
  return { months, supplement: monthStart(next) <= now ? next : undefined };
}

/** The window, ending no later than now: time to come is not counted. */
function upToNow(window: Window, now: number): Window {
  return { from: window.from, to: Math.min(window.to, now) };
}

/** One device's availability over `window` (at most 13 months, checked by the caller). */
export async function deviceAvailability(
  reader: FleetReader,
  evseId: string,
  window: Window,
  now: number,
): Promise<{ evseId: string; window: { from: string; to: string } } & Availability> {
  const effective = upToNow(window, now);
  const { months, supplement } = monthsFor(effective, now);
  const rollups = await reader.deviceRollups(
    evseId,
    supplement ? [...months, supplement] : months,
    now,
  );
  return {
    evseId,
    window: isoWindow(effective),
    ...availabilityOver(timelineOf(rollups), effective),
  };
}

/**
 * A page of the fleet's availability over `window` (a UTC or time-zone month): one row per
 * device that was part of the fleet in it, in id order, with the page's totals.
 */
export async function fleetAvailability(
  reader: FleetReader,
  query: { window: Window; limit: number; cursor?: string | undefined; scope: string },
  now: number,
): Promise<AvailabilityReport> {
  const effective = upToNow(query.window, now);
  const { months, supplement } = monthsFor(effective, now);
  const page = await reader.fleetRollups(
    { months, supplement, limit: query.limit, cursor: query.cursor, scope: query.scope },
    now,
  );
  const rows = page.items
    .map(({ evseId, cpid, rollups }) => ({
      evseId,
      cpid,
      ...availabilityOver(timelineOf(rollups), effective),
    }))
    .filter((row) => row.inFleetMinutes > 0);
  return {
    window: isoWindow(effective),
    rows,
    totals: totalOf(rows),
    nextCursor: page.nextCursor,
  };
}

/** Active chargers offline for at least `silentForMs` since their last sample, oldest first. */
export async function silentChargers(
  reader: FleetReader,
  query: { silentForMs: number; limit: number; cursor?: string | undefined; scope: string },
  now: number,
): Promise<Page<OfflineDevice & { silentFor: string }>> {
  const page = await reader.offline({
    sampledBy: now - query.silentForMs,
    limit: query.limit,
    cursor: query.cursor,
    scope: query.scope,
  });
  return {
    items: page.items.map((device) => ({
      ...device,
      silentFor: formatDuration(now - Date.parse(device.sampledAt ?? "")),
    })),
    nextCursor: page.nextCursor,
  };
}

function isoWindow(window: Window) {
  return { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() };
}
