/**
 * The fleet-health routes: the latest snapshot, a charger's history and availability, the
 * fleet's monthly availability report (JSON or CSV, paged with `Link: next`) and the silent
 * chargers. Input is validated here, with the clock; the answers come from the core use cases.
 */
import type { APIGatewayProxyResult } from "aws-lambda";
import { addMonths, monthOf, monthStart, monthWindow, type Window } from "../core/availability.js";
import { EvseNotFound } from "../core/decommission/errors.js";
import type { DeviceState } from "../core/device-state.js";
import { parseDuration } from "../core/duration.js";
import {
  type AvailabilityReport,
  deviceAvailability,
  type FleetReader,
  fleetAvailability,
  silentChargers,
} from "../core/fleet-reports.js";
import type { Clock } from "../ports.js";
import { type Cell, prefersCsv, toCsv } from "./csv.js";
import { header, parseQuery, type ReadRequest } from "./http-request.js";
import { badRequest, HttpProblem, SAFE_HEADERS } from "./problems.js";
import {
  AvailabilityQuery,
  DEFAULT_PAGE_SIZE,
  EvseIdSchema,
  FleetAvailabilityQuery,
  HistoryQuery,
  type ListEvsesQuery,
  MAX_REPORT_ROWS,
  NoQuery,
} from "./schemas.js";

export interface FleetRouteDependencies {
  fleet: FleetReader;
  devices: { get(evseId: string): Promise<DeviceState | undefined> };
  clock: Clock;
}

export interface FleetCall {
  request: ReadRequest;
  id: string | undefined;
  basePath: string;
}

/** What every availability answer says it is. */
export const AVAILABILITY_DEFINITION =
  "NEVI-style availability, not a compliance figure: online / (online + offline + unknown) minutes over the window. An outage starts at the last sample plus the staleness threshold and ends at the first sample the poll sees after it; removed, decommissioned and not-yet-seen time is excluded; outage minutes are raw (no excluded outage time is subtracted). See the README, Availability.";

/** Rollups are kept 13 months: the current month and the 12 before it can be reported. */
export const REPORT_MONTHS = 13;
const DAY_MS = 86_400_000;
/** A response as Lambda returns it (headers, body escaped into JSON) stays under its 6 MB cap. */
export const MAX_RESPONSE_BYTES = 5_000_000;
const DEFAULT_AVAILABILITY_DAYS = 30;
const JSON_HEADERS = { "Content-Type": "application/json", ...SAFE_HEADERS };

export const CSV_COLUMNS = [
  "evseId",
  "cpid",
  "windowFrom",
  "windowTo",
  "inFleetMinutes",
  "onlineMinutes",
  "offlineMinutes",
  "unknownMinutes",
  "excludedMinutes",
  "availabilityPercent",
  "outages",
  "longestOutageMinutes",
  "stateAtEnd",
] as const;

export function fleetRoutes(deps: FleetRouteDependencies) {
  return {
    fleetSnapshot: async (call: FleetCall) => {
      parseQuery(call.request, NoQuery);
      const snapshot = await deps.fleet.latestSnapshot();
      if (snapshot === undefined) {
        throw new HttpProblem(
          404,
          "fleet-snapshot-not-found",
          "No fleet snapshot yet",
          "no sweep of the fleet has completed yet; the first snapshot comes with the first complete sweep",
        );
      }
      return json(200, snapshot);
    },

    evseHistory: async (call: FleetCall) => {
      const query = parseQuery(call.request, HistoryQuery);
      const now = deps.clock.now();
      // Nothing is detected after now: a later `to` (year 9999, say) reads as now.
      const to = Math.min(query.to ?? now, now);
      const from = query.from ?? 0;
      if (from > to) throw outOfOrder();
      const evseId = await knownDevice(deps, call.id);
      const page = await deps.fleet.history(
        evseId,
        {
          from: iso(from),
          to: iso(to),
          limit: query.limit ?? DEFAULT_PAGE_SIZE,
          cursor: query.cursor,
          scope: `${query.from ?? "start"}:${query.to ?? "now"}`,
        },
        now,
      );
      return json(200, { items: page.items, nextCursor: page.nextCursor ?? null });
    },

    evseAvailability: async (call: FleetCall) => {
      const query = parseQuery(call.request, AvailabilityQuery);
      const now = deps.clock.now();
      const to = Math.min(query.to ?? now, now);
      const from = query.from ?? to - DEFAULT_AVAILABILITY_DAYS * DAY_MS;
      if (from >= to) {
        throw badRequest("from must be before to (and before now)", [
          { pointer: "query:from", detail: "from must be before to and before now" },
        ]);
      }
      const earliest = earliestReportable(now);
      if (from < earliest) {
        throw badRequest(
          `availability goes back to ${iso(earliest)}: rollups are kept ${REPORT_MONTHS} months`,
          [{ pointer: "query:from", detail: `must be at or after ${iso(earliest)}` }],
        );
      }
      const evseId = await knownDevice(deps, call.id);
      const result = await deviceAvailability(deps.fleet, evseId, { from, to }, now);
      return json(200, { ...result, definition: AVAILABILITY_DEFINITION });
    },

    fleetAvailability: async (call: FleetCall): Promise<APIGatewayProxyResult> => {
      const query = parseQuery(call.request, FleetAvailabilityQuery);
      const csv = prefersCsv(header(call.request, "Accept"));
      if (csv === "none") {
        throw new HttpProblem(
          406,
          "not-acceptable",
          "Not acceptable",
          "this report is served as application/json or text/csv",
        );
      }
      const now = deps.clock.now();
      const window = reportWindow(query.month, query.tz, now);
      const scope = `${query.month}:${query.tz ?? "UTC"}`;
      const render = (report: AvailabilityReport): APIGatewayProxyResult => {
        const next =
          report.nextCursor === undefined
            ? undefined
            : `${call.basePath}/fleet/availability?${new URLSearchParams({
                month: query.month,
                ...(query.tz ? { tz: query.tz } : {}),
                ...(query.limit ? { limit: String(query.limit) } : {}),
                cursor: report.nextCursor,
              })}`;
        const link: Record<string, string> =
          next === undefined ? {} : { Link: `<${next}>; rel="next"` };
        if (csv) {
          const rows: Cell[][] = report.rows.map((row) => [
            row.evseId,
            row.cpid,
            report.window.from,
            report.window.to,
            row.inFleetMinutes,
            row.onlineMinutes,
            row.offlineMinutes,
            row.unknownMinutes,
            row.excludedMinutes,
            row.availabilityPercent,
            row.outages,
            row.longestOutageMinutes,
            row.stateAtEnd,
          ]);
          return {
            statusCode: 200,
            headers: {
              "Content-Type": "text/csv; charset=utf-8; header=present",
              ...SAFE_HEADERS,
              ...link,
            },
            body: toCsv(CSV_COLUMNS, rows),
          };
        }
        return json(
          200,
          {
            month: query.month,
            timeZone: query.tz ?? "UTC",
            window: report.window,
            definition: AVAILABILITY_DEFINITION,
            rows: report.rows,
            pageTotals: report.totals,
            nextCursor: report.nextCursor ?? null,
          },
          link,
        );
      };
      // Pages are at most `limit` rows, and smaller when their rows are long (a cpid is any
      // length ev.energy gives it): Lambda caps a response at 6 MB, body escaped into it.
      let limit = query.limit ?? MAX_REPORT_ROWS;
      for (;;) {
        const report = await fleetAvailability(
          deps.fleet,
          { window, limit, cursor: query.cursor, scope },
          now,
        );
        const result = render(report);
        const size = Buffer.byteLength(JSON.stringify(result));
        if (size <= MAX_RESPONSE_BYTES || report.rows.length <= 1) return result;
        limit = Math.max(1, Math.floor((report.rows.length * MAX_RESPONSE_BYTES) / size / 1.1));
      }
    },
  };
}

/**
 * `GET /evses?connectivity=offline[&silentFor=P7D]`: active chargers offline (silent for at
 * least that long since their last sample), oldest sample first, from the offline index.
 */
export async function silentListing(
  deps: FleetRouteDependencies,
  query: ReturnType<typeof ListEvsesQuery.parse>,
): Promise<APIGatewayProxyResult> {
  if (query.connectivity !== "offline") {
    throw badRequest("silentFor lists offline chargers: add connectivity=offline", [
      { pointer: "query:connectivity", detail: "connectivity=offline is required with silentFor" },
    ]);
  }
  if (query.lifecycle !== undefined && query.lifecycle !== "active") {
    throw badRequest("only active chargers are offline: leave lifecycle out (or say active)", [
      { pointer: "query:lifecycle", detail: "must be active (or left out) with connectivity" },
    ]);
  }
  const silentFor = query.silentFor ?? "PT0M";
  const page = await silentChargers(
    deps.fleet,
    {
      silentForMs: parseDuration(silentFor) ?? 0,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      cursor: query.cursor,
      scope: silentFor,
    },
    deps.clock.now(),
  );
  return json(200, { items: page.items, nextCursor: page.nextCursor ?? null });
}

/** The window of a report month: refused before the retention or when it has not begun. */
function reportWindow(month: string, zone: string | undefined, now: number): Window {
  // Both bounds before the window: a month far out (9999-12) has no window to compute.
  const oldest = addMonths(monthOf(now), -(REPORT_MONTHS - 1));
  if (month < oldest) {
    throw badRequest(
      `the report goes back to ${oldest}: rollups are kept ${REPORT_MONTHS} months`,
      [{ pointer: "query:month", detail: `must be ${oldest} or later` }],
    );
  }
  const notBegun = () =>
    badRequest(`${month} has not begun`, [
      { pointer: "query:month", detail: "must not be in the future" },
    ]);
  // The month after UTC's may have begun in a zone ahead of UTC; none later has.
  if (month > addMonths(monthOf(now), 1)) throw notBegun();
  const window = monthWindow(month, zone);
  if (window.from > now) throw notBegun();
  return window;
}

/** The oldest instant a device's availability can be asked for. */
function earliestReportable(now: number): number {
  return monthStart(addMonths(monthOf(now), -(REPORT_MONTHS - 1)));
}

async function knownDevice(deps: FleetRouteDependencies, id: string | undefined) {
  const evseId = id ?? "";
  if (!EvseIdSchema.safeParse(evseId).success) throw new EvseNotFound(shorten(evseId));
  if ((await deps.devices.get(evseId)) === undefined) throw new EvseNotFound(evseId);
  return evseId;
}

function outOfOrder() {
  return badRequest("from must not be after to", [
    { pointer: "query:from", detail: "from must not be after to" },
  ]);
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

function shorten(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}
