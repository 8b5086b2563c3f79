/**
 * The monthly fleet report's pages stay under Lambda's 6 MB response cap whatever the rows
 * hold: a cpid is as long as ev.energy makes it, so a page of 5,000 rows with long ones would
 * not fit. The route shrinks such a page (fewer rows, `Link: next` to the rest) and every row is
 * still reachable, once. Over an in-memory FleetReader (the port the API reads through).
 */
import { describe, expect, it } from "vitest";
import { fleetRoutes, MAX_RESPONSE_BYTES } from "../../functions/api/fleet-routes.js";
import type { MonthRollup } from "../../functions/core/availability.js";
import type { FleetReader } from "../../functions/core/fleet-reports.js";
import { ManualClock } from "../../local/manual-clock.js";

const NOW = "2026-03-20T00:00:00Z";

/** `count` devices online all of February 2026, each with a cpid of `cpidLength` characters. */
function fleetOf(count: number, cpidLength: number): FleetReader {
  const devices = Array.from({ length: count }, (_, i) => {
    const evseId = `evse${String(i).padStart(26, "0")}`;
    const cpid = `"${String(i)}`.padEnd(cpidLength, "\u0001");
    const rollup: MonthRollup = { evseId, month: "2026-02", cpid, start: "o", transitions: [] };
    return { evseId, cpid, rollups: [rollup] };
  });
  const unused = () => Promise.reject(new Error("not read by the report"));
  return {
    latestSnapshot: unused,
    history: unused,
    deviceRollups: unused,
    offline: unused,
    async fleetRollups(query) {
      const after = query.cursor ?? "";
      const rest = devices.filter((device) => device.evseId > after);
      const items = rest.slice(0, query.limit);
      return {
        items,
        nextCursor: rest.length > items.length ? items.at(-1)?.evseId : undefined,
      };
    },
  };
}

async function page(reader: FleetReader, query: Record<string, string>, accept: string) {
  const routes = fleetRoutes({
    fleet: reader,
    devices: { get: () => Promise.resolve(undefined) },
    clock: new ManualClock(NOW),
  });
  return routes.fleetAvailability({
    request: {
      method: "GET",
      path: "/fleet/availability",
      headers: new Map([["accept", [accept]]]),
      query: new Map(Object.entries(query).map(([name, value]) => [name, [value]])),
    },
    id: undefined,
    basePath: "",
  });
}

describe("the monthly fleet report's page size", () => {
  for (const accept of ["application/json", "text/csv"]) {
    it(`stays under the response cap with long cpids, every row once (${accept})`, async () => {
      const reader = fleetOf(3_000, 1_000);
      const seen: string[] = [];
      let query: Record<string, string> = { month: "2026-02" };
      let pages = 0;
      for (;;) {
        const result = await page(reader, query, accept);
        expect(result.statusCode).toBe(200);
        expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
        pages += 1;
        const ids =
          accept === "text/csv"
            ? [...result.body.matchAll(/^(evse\d{26}),/gm)].map((match) => match[1] ?? "")
            : (JSON.parse(result.body) as { rows: Array<{ evseId: string }> }).rows.map(
                (row) => row.evseId,
              );
        seen.push(...ids);
        const link = String(result.headers?.Link ?? "");
        const cursor = /[?&]cursor=([^&>]+)/.exec(link)?.[1];
        if (cursor === undefined) break;
        query = { month: "2026-02", cursor: decodeURIComponent(cursor) };
      }
      expect(pages).toBeGreaterThan(1);
      expect(seen).toHaveLength(3_000);
      expect(new Set(seen).size).toBe(3_000);
    });
  }

  it("keeps a page of short rows whole", async () => {
    const result = await page(fleetOf(3_000, 10), { month: "2026-02" }, "application/json");
    expect(JSON.parse(result.body).rows).toHaveLength(3_000);
    expect(result.headers?.Link).toBeUndefined();
  });
});
