import { DynamoDeviceStore } from "../../functions/adapters/dynamodb/device-store.js";
import { DynamoFleetReader } from "../../functions/adapters/dynamodb/fleet-health-reader.js";
import { loadPollEnvironment } from "../../functions/config.js";
import type { HistoryEntry } from "../../functions/core/device-history.js";
import type { ChangeEvent } from "../../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../../functions/core/fleet-alert.js";
import type { PollSummary } from "../../functions/core/poll.js";
import { createPoller } from "../../functions/poll-runtime.js";
import type {
  DeviceStore,
  EvEnergyApi,
  EventPublisher,
  FleetHealthStore,
  Logger,
  SweepStore,
} from "../../functions/ports.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { defaultClientSecrets, startSimulator } from "../../local/simulator/index.js";
import type { Simulator, SimulatorOptions } from "../../local/simulator/types.js";
import type { useDynalite } from "./dynamo.js";

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export interface PollHarnessOptions {
  simulator?: Omit<SimulatorOptions, "clock">;
  env?: Record<string, string>;
  budgetEnabled?: boolean;
  logger?: Logger;
  /** Wraps the device store, e.g. to race or crash a write. */
  wrapDevices?: (store: DeviceStore) => DeviceStore;
  /** Wraps the sweep store, e.g. to crash a checkpoint write. */
  wrapSweeps?: (store: SweepStore) => SweepStore;
  /** Wraps the ev.energy client, e.g. to watch each page as the poll receives it. */
  wrapApi?: (api: EvEnergyApi) => EvEnergyApi;
  /** The simulated clock's start (default 2026-03-02T08:00:00Z). */
  start?: string;
  /** Wraps the fleet-health store, e.g. to crash a history write. */
  wrapHealth?: (store: FleetHealthStore) => FleetHealthStore;
  /** Receives device changes only in tests that never degrade the fleet (their fleet events too). */
  publisher?: EventPublisher;
}

/**
 * The poll as the Lambda runs it, over real sockets: the simulated ev.energy, the embedded
 * DynamoDB, one ManualClock shared by both so simulated time is the poll's time.
 */
export async function startPollHarness(
  dynamo: ReturnType<typeof useDynalite>,
  options: PollHarnessOptions = {},
) {
  const clock = new ManualClock(options.start ?? "2026-03-02T08:00:00Z");
  const sim: Simulator = await startSimulator({ ...options.simulator, clock });
  const tableName = await dynamo.freshTable();
  // Device changes and fleet-wide events are recorded apart, as consumers would route them.
  const publisher = new RecordingPublisher<ChangeEvent>();
  const fleetEvents: FleetEvent[] = [];
  const routing: EventPublisher<ChangeEvent | FleetEvent> = {
    async publish(events) {
      for (const event of events) {
        if (isFleetEvent(event)) fleetEvents.push(event);
        else publisher.events.push(event);
      }
      return { failed: [] };
    },
  };
  const config = loadPollEnvironment({
    TABLE_NAME: tableName,
    EVENT_BUS_NAME: "test-bus",
    EVENERGY_SECRET_ID: "test",
    EVENERGY_API_URL: sim.apiBaseUrl,
    EVENERGY_TOKEN_URL: sim.tokenUrl,
    ...options.env,
  });
  const devices = new DynamoDeviceStore(dynamo.documents, tableName);
  const reader = new DynamoFleetReader(dynamo.documents, tableName);
  let runs = 0;

  // A new poller is a Lambda cold start: new client, new token provider, nothing cached.
  const coldStart = () =>
    createPoller({
      config,
      secrets: defaultClientSecrets(),
      documents: dynamo.documents,
      publisher: options.publisher ?? routing,
      clock,
      random: seededRandom(7),
      logger: options.logger ?? silentLogger,
      ...(options.budgetEnabled === undefined ? {} : { budgetEnabled: options.budgetEnabled }),
      ...(options.wrapDevices ? { wrapDevices: options.wrapDevices } : {}),
      ...(options.wrapSweeps ? { wrapSweeps: options.wrapSweeps } : {}),
      ...(options.wrapHealth ? { wrapHealth: options.wrapHealth } : {}),
      ...(options.wrapApi ? { wrapApi: options.wrapApi } : {}),
    });
  let poller = coldStart();

  return {
    sim,
    clock,
    publisher,
    /** The fleet-wide events published (degraded, restored), in order. */
    fleetEvents,
    devices,
    tableName,
    /** One poll run; `coldStart` first builds a new poller, as a new Lambda instance would. */
    async poll(timeLimitMs = 240_000, options: { coldStart?: boolean } = {}): Promise<PollSummary> {
      runs += 1;
      if (options.coldStart) poller = coldStart();
      return poller.poll({ runId: `run-${runs}`, timeLimitMs });
    },
    reader,
    /** Every history entry of a device, newest first. */
    async history(evseId: string): Promise<HistoryEntry[]> {
      const entries: HistoryEntry[] = [];
      let cursor: string | undefined;
      const range = {
        from: "2000-01-01T00:00:00.000Z",
        to: "2100-01-01T00:00:00.000Z",
        scope: "all",
      };
      do {
        const page = await reader.history(evseId, { ...range, limit: 100, cursor }, clock.now());
        entries.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return entries;
    },
    close: () => sim.close(),
  };
}

/** A device store that behaves like `store` except for the methods given. */
export function storeWith(store: DeviceStore, overrides: Partial<DeviceStore>): DeviceStore {
  return {
    readRange: (range) => store.readRange(range),
    readAfter: (afterId, limit) => store.readAfter(afterId, limit),
    get: (id) => store.get(id),
    put: (state, expected, seen) => store.put(state, expected, seen),
    ...overrides,
  };
}
