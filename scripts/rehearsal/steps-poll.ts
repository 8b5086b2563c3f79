/**
 * The poll as Scheduler runs it: changes to a subscriber through the deployed rule, only the new
 * ones on the next run, and the fleet as an operator reads it through the API.
 */
import {
  countBy,
  describeAnswer,
  drain,
  expect,
  REQUESTER,
  runScheduled,
  type Step,
} from "./world.js";

export const POLL_STEPS: readonly Step[] = [
  {
    title: "Scheduler runs the poll: changes published, the subscriber's rule receives them",
    async run(world) {
      const run = await runScheduled(world, "poll");
      const summary = run.invocation.result as {
        changes: number;
        sweepComplete: boolean;
        pages: number;
      };
      const fleet = world.need(world.simulator, "simulator").fleet.list().length;
      expect(summary.sweepComplete, "the sweep did not complete");
      expect(summary.changes === fleet, `${summary.changes} changes for ${fleet} new EVSEs`);
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const ids = new Set(events.map((event) => event.detail.eventId));
      expect(
        events.length === summary.changes,
        `the subscriber got ${events.length} of ${summary.changes} events`,
      );
      expect(ids.size === events.length, "event ids repeat");
      return [
        `input ${JSON.stringify(run.input)}`,
        `summary: ${summary.pages} pages, ${summary.changes} changes, sweep complete`,
        `subscriber received ${events.length} events (${countBy(events.map((event) => event["detail-type"]))}), ${ids.size} distinct eventIds`,
      ];
    },
  },
  {
    title: "simulated time moves; the second poll publishes only the new changes",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      const now = simulator.clock.now();
      const online = simulator.fleet
        .list()
        .filter((device) => device.status !== null && now - device.status.sampledAt < 5 * 60_000);
      const idle = online.filter((device) => device.status?.isCharging === false);
      const [starts, removed, decommissioned, retried] = idle;
      expect(retried !== undefined, "the simulated fleet has too few idle online EVSEs");
      simulator.advance(120_000);
      simulator.fleet.update(starts?.id ?? "", {
        status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7200 },
      });
      simulator.fleet.remove(removed?.id ?? "");
      const added = simulator.fleet.add();
      world.devices = {
        started: starts?.id ?? "",
        decommissioned: decommissioned?.id ?? "",
        retried: retried?.id ?? "",
      };
      const expected = [
        `EVSE Status Changed ${starts?.id}`,
        `EVSE Removed ${removed?.id}`,
        `EVSE Discovered ${added.id}`,
      ].sort();

      const run = await runScheduled(world, "poll");
      const events = await drain(world, world.need(world.subscriberQueue, "subscriber"));
      const got = events.map((event) => `${event["detail-type"]} ${event.detail.evseId}`).sort();
      expect(
        JSON.stringify(got) === JSON.stringify(expected),
        `expected ${expected.join("; ")}, the subscriber got ${got.join("; ") || "nothing"}`,
      );
      const summary = run.invocation.result as { changes: number };
      return [
        `simulator +2 min: one EVSE starts charging, one is removed, one appears`,
        `summary: ${summary.changes} changes; subscriber received exactly: ${got.join("; ")}`,
      ];
    },
  },
  {
    title: "the fleet as an operator reads it: snapshot, silent chargers, history, a month's CSV",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      // What an operator asks the API: the fleet now, the silent chargers, one charger's history,
      // last month's availability as CSV.
      const api = world.need(world.api, "API");
      const read = async (path: string, query: Array<[string, string]> = [], accept?: string) => {
        const answer = await api.call({
          method: "GET",
          path,
          query,
          caller: REQUESTER,
          ...(accept ? { headers: [["Accept", accept]] as Array<[string, string]> } : {}),
        });
        expect(answer.status === 200, `GET ${path}: ${describeAnswer(answer)}`);
        return answer;
      };
      const snapshot = (await read("/fleet")).json as {
        devices: { active: number; online: number; offline: number };
      };
      expect(
        snapshot.devices.active === simulator.fleet.list().length,
        `GET /fleet: ${snapshot.devices.active} active of ${simulator.fleet.list().length}`,
      );
      const silent: Array<{ evseId: string; sampledAt: string }> = [];
      let pages = 0;
      for (let cursor: string | null = null; pages === 0 || cursor !== null; pages++) {
        const page = (
          await read("/evses", [
            ["connectivity", "offline"],
            ["silentFor", "PT15M"],
            ["limit", "5"],
            ...(cursor ? ([["cursor", cursor]] as Array<[string, string]>) : []),
          ])
        ).json as { items: typeof silent; nextCursor: string | null };
        silent.push(...page.items);
        cursor = page.nextCursor;
      }
      const times = silent.map((item) => Date.parse(item.sampledAt));
      expect(
        silent.length === snapshot.devices.offline &&
          times.every((time, i) => i === 0 || (times[i - 1] ?? 0) <= time),
        `silent for 15 minutes: ${silent.length} in ${pages} pages, oldest first: ${times.every((time, i) => i === 0 || (times[i - 1] ?? 0) <= time)}; the snapshot says ${snapshot.devices.offline} offline`,
      );
      const one = world.need(world.devices.started, "the device that started charging");
      const history = (await read(`/evses/${one}/history`)).json as {
        items: Array<{ type: string }>;
      };
      const story = history.items.map((item) => item.type);
      expect(
        JSON.stringify(story) === JSON.stringify(["EVSE Status Changed", "EVSE Discovered"]),
        `history of ${one}, newest first: ${story.join(", ")}`,
      );
      const month = new Date(simulator.clock.now()).toISOString().slice(0, 7);
      const report = await read("/fleet/availability", [["month", month]], "text/csv");
      const lines = report.text.trim().split("\n");
      expect(
        report.headers["Content-Type"]?.startsWith("text/csv") === true &&
          lines.length === simulator.fleet.list().length + 2,
        `GET /fleet/availability?month=${month} as CSV: ${report.headers["Content-Type"]}, ${lines.length} lines`,
      );
      return [
        `GET /fleet: ${snapshot.devices.active} EVSEs, ${snapshot.devices.online} online, ${snapshot.devices.offline} offline`,
        `GET /evses?connectivity=offline&silentFor=PT15M: ${silent.length} in ${pages} pages, oldest sample first`,
        `GET /evses/${one}/history: ${story.join(", ")} (newest first)`,
        `GET /fleet/availability?month=${month} (Accept: text/csv): ${lines.length - 1} rows`,
      ];
    },
  },
];
