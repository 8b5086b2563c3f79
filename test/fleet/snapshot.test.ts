/**
 * The fleet snapshot equals the counts over the states each page read, as the simulator
 * reported them when that page was read: across a sweep split over several runs, a run that
 * dies mid-sweep (its last checkpoint landed or not), and fleet changes between runs.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Evse } from "../../functions/core/evse.js";
import type { FleetSnapshot } from "../../functions/core/fleet-snapshot.js";
import type { EvEnergyApi, EvsePage, SweepStore } from "../../functions/ports.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness, storeWith } from "../support/poll-harness.js";

const dynamo = useDynalite();
let harness: Awaited<ReturnType<typeof startPollHarness>> | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MINUTE = 60_000;
const STALENESS = 15 * MINUTE;
const never = <T>() => new Promise<T>(() => undefined);

/** A page as the poll received it, with the poll's clock at that moment. */
interface Observation {
  at: number;
  evses: Evse[];
}

/** What the snapshot should say, computed from the observations alone (not the poll's code). */
function expectedCounts(pages: readonly Observation[]) {
  const counts = {
    active: 0,
    online: 0,
    offline: 0,
    unknown: 0,
    pluggedIn: 0,
    charging: 0,
    chargePowerWatts: 0,
    exportPowerWatts: 0,
    lockMode: { UNLOCKED: 0, SMART: 0, LOCKED: 0, none: 0 },
  };
  for (const page of pages) {
    for (const evse of page.evses) {
      counts.active += 1;
      const mode = evse.lockMode ?? "none";
      counts.lockMode[mode] += 1;
      const sample = evse.latestStatusLog;
      if (!sample) {
        counts.unknown += 1;
        continue;
      }
      if (page.at - Date.parse(sample.sampledAt) > STALENESS) {
        counts.offline += 1;
        continue;
      }
      counts.online += 1;
      if (sample.isPluggedIn === true) counts.pluggedIn += 1;
      if (sample.isCharging === true) {
        counts.charging += 1;
        counts.chargePowerWatts += Math.max(0, sample.chargeRateWatts ?? 0);
      }
      counts.exportPowerWatts += Math.max(0, sample.exportPowerWatts ?? 0);
    }
  }
  return counts;
}

function countsOf(snapshot: FleetSnapshot) {
  return {
    ...snapshot.devices,
    pluggedIn: snapshot.pluggedIn,
    charging: snapshot.charging,
    chargePowerWatts: snapshot.chargePowerWatts,
    exportPowerWatts: snapshot.exportPowerWatts,
    lockMode: snapshot.lockMode,
  };
}

describe("the fleet snapshot", () => {
  it.for([{ landed: false }, { landed: true }])(
    "counts every page once, as it was read, across runs and a run that dies (checkpoint landed: $landed)",
    async ({ landed }) => {
      // The last observation of each page URL is the one committed: a dead run's uncommitted
      // page is read again from the same URL, and page k+1 is never fetched before k commits.
      const observed = new Map<string, Observation>();
      let commits = 0;
      const committedBy = new Set<string>();
      let killAtCommit = 0;
      let killArmed = false;
      let killed: () => void = () => undefined;
      const died = new Promise<void>((resolve) => {
        killed = resolve;
      });
      harness = await startPollHarness(dynamo, {
        simulator: { fleetSize: 650, seed: 5 },
        wrapApi: (api): EvEnergyApi => ({
          get rateLimit() {
            return api.rateLimit;
          },
          getEvse: (id, options) => api.getEvse(id, options),
          deleteEvse: (id, options) => api.deleteEvse(id, options),
          listEvses: (options) => ({
            async *[Symbol.asyncIterator]() {
              for await (const page of api.listEvses(options) as AsyncIterable<EvsePage>) {
                observed.set(page.url, { at: harness?.clock.now() ?? 0, evses: page.evses });
                yield page;
              }
            },
          }),
        }),
        // Each page takes a simulated minute, so a 5-minute run stops part-way through a sweep.
        wrapDevices: (store) =>
          storeWith(store, {
            readAfter: async (afterId, limit) => {
              harness?.clock.advance(MINUTE);
              return store.readAfter(afterId, limit);
            },
          }),
        // The run holding the armed kill dies in its Nth checkpoint write; its poller stays dead.
        wrapSweeps: (store): SweepStore => {
          let dead = false;
          const hang = <T>(call: () => Promise<T>) => (dead ? never<T>() : call());
          return {
            acquire: (o, n, l) => hang(() => store.acquire(o, n, l)),
            commit: (o, n, c, l) => {
              if (dead) return never();
              commits += 1;
              if (!killArmed || commits !== killAtCommit) {
                return store.commit(o, n, c, l).then((saved) => {
                  if (saved) committedBy.add(o);
                  return saved;
                });
              }
              dead = true;
              killed();
              if (!landed) return never();
              return store.commit(o, n, c, l).then(() => {
                committedBy.add(o);
                return never<boolean>();
              });
            },
            completeSweep: (o, n, c) => hang(() => store.completeSweep(o, n, c)),
            release: (o) => hang(() => store.release(o)),
          };
        },
      });
      const h = harness;
      // A first sweep, so that the measured one starts from stored states.
      let run = await h.poll(60 * MINUTE);
      expect(run.sweepComplete).toBe(true);
      observed.clear();
      commits = 0;
      committedBy.clear();

      // Run 1 reads a few pages and stops for time. (A static fleet's devices report when told.)
      h.clock.advance(5 * MINUTE);
      h.sim.fleet.sampleAll();
      run = await h.poll(5 * MINUTE);
      expect(run).toMatchObject({ sweepComplete: false, stoppedBecause: "time" });
      const firstRunPages = run.pages;

      // Between runs the fleet changes, in pages read and pages still to read.
      const fleet = h.sim.fleet.list();
      for (const device of [fleet[10], fleet[300], fleet[550]]) {
        if (device?.status) h.sim.fleet.update(device.id, { status: { isPluggedIn: true } });
      }
      h.sim.fleet.update(fleet[500]?.id ?? "", { lockMode: "LOCKED" });
      h.sim.fleet.remove(fleet[600]?.id ?? "");
      h.sim.fleet.silence(0.05, { sinceMs: 20 * MINUTE });

      // Run 2 commits one page and dies in its second checkpoint write.
      killAtCommit = commits + 2;
      killArmed = true;
      h.clock.advance(MINUTE);
      const dying = await Promise.race([died.then(() => "died" as const), h.poll(5 * MINUTE)]);
      expect(dying, "run 2 died in a checkpoint write").toBe("died");
      killArmed = false;

      // The fleet changes again; later runs (new Lambda instances) finish the sweep.
      h.sim.fleet.churn(0.05);
      let snapshot: FleetSnapshot | null = null;
      for (let attempt = 0; attempt < 10 && snapshot === null; attempt += 1) {
        h.clock.advance(6 * MINUTE);
        h.sim.fleet.sampleAll();
        run = await h.poll(5 * MINUTE, { coldStart: true });
        snapshot = run.snapshot;
      }
      if (snapshot === null) throw new Error("the sweep never completed");

      expect(observed.size).toBe(7);
      expect(countsOf(snapshot)).toEqual(expectedCounts([...observed.values()]));
      expect(snapshot.lifecycle).toEqual({
        active: snapshot.devices.active,
        removed: 1,
        decommissioned: 0,
      });
      expect(snapshot.pages).toBe(7);
      expect(firstRunPages).toBeGreaterThan(1);
      expect(snapshot.runs).toBe(committedBy.size);
      expect(committedBy.size).toBeGreaterThanOrEqual(2);
      // What GET /fleet serves is the same snapshot.
      expect(await h.reader.latestSnapshot()).toEqual(snapshot);
    },
  );
});
