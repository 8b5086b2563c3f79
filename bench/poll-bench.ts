/**
 * `npm run bench` (add `-- --fleet 100000` for the large fleet; `-- --webhooks` for the webhook
 * benchmark, bench/webhook-bench.ts): the poll against the simulated
 * ev.energy with 20 ms added latency per request, the simulator and the embedded DynamoDB each in
 * a process of their own, the poll in this one. Sweep 1 discovers the fleet; then about 5% of
 * devices change and sweep 2, the steady state, is measured. The rate-limit budget is off.
 * Then, side by side in the same run: the same churn swept without fleet health (no history,
 * rollups, snapshot); a quarter of the fleet falling silent at once and coming back (a sweep
 * each); the silent-charger listing and the monthly fleet availability report through the API
 * handler, their DynamoDB reads counted; and two bare cursor chains with the same client: the
 * listing alone, and the listing with one checkpoint write before each next page (the least
 * any run that re-reads at most one page after dying can take).
 *
 * Prints tables, then one JSON line with the figures. The poll's process runs with the V8 heap
 * limits of the poll's Lambda function.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { DynamoSweepStore } from "../functions/adapters/dynamodb/sweep-store.js";
import { loadPollEnvironment } from "../functions/config.js";
import { monthOf } from "../functions/core/availability.js";
import type { DecommissionEvent } from "../functions/core/decommission/model.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../functions/core/fleet-alert.js";
import type { PollSummary } from "../functions/core/poll.js";
import { createDecommissionApi } from "../functions/decommission-runtime.js";
import { systemRandom } from "../functions/lib/clock.js";
import { createPoller } from "../functions/poll-runtime.js";
import type { EventPublisher } from "../functions/ports.js";
import { DEFAULT_MEMORY_MB, lambdaHeapFlags } from "../infra/lambda-memory.js";
import { proxyEvent } from "../local/api-gateway-event.js";
import { localDynamoClients } from "../local/dynamodb.js";
import { LocalExecutionQueue } from "../local/execution-queue.js";
import { HmacApprovalMac } from "../local/hmac-approval-mac.js";
import { OffsetClock } from "../local/manual-clock.js";
import { RecordingPublisher } from "../local/recording-publisher.js";
import { defaultClientSecrets } from "../local/simulator/index.js";
import { stderrLogger } from "../local/stderr-logger.js";

// `--webhooks`: the webhook benchmark instead (bench/webhook-bench.ts), which exits when done.
if (process.argv.includes("--webhooks")) {
  await import("./webhook-bench.js");
  process.exit(0);
}

// The poll runs under the heap limits Lambda gives its function (see infra/lambda-memory.ts):
// without them V8 sizes its heap for this machine, and peak RSS says nothing about Lambda.
const heapFlags = lambdaHeapFlags(DEFAULT_MEMORY_MB);
if (!heapFlags.every((flag) => process.execArgv.includes(flag))) {
  const run = spawnSync(
    process.execPath,
    [...heapFlags, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit" },
  );
  process.exit(run.status ?? 1);
}

const { values } = parseArgs({
  options: {
    fleet: { type: "string", default: "10000" },
    "latency-ms": { type: "string", default: "20" },
    churn: { type: "string", default: "0.05" },
    silence: { type: "string", default: "0.25" },
  },
});
const fleet = Number(values.fleet);
const latencyMs = Number(values["latency-ms"]);

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGTERM");
});

/** Starts a helper process and reads the JSON line it prints when ready. */
async function startProcess<T>(script: string, args: string[]): Promise<T> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await lines[Symbol.asyncIterator]().next();
  if (first.done) throw new Error(`${script} exited before it was ready`);
  return JSON.parse(String(first.value)) as T;
}

const [simulator, dynamo] = await Promise.all([
  startProcess<{ origin: string; apiBaseUrl: string; tokenUrl: string }>(
    "local/simulator/main.ts",
    ["--fleet", String(fleet), "--latency-ms", String(latencyMs), "--rate-limit", "100000000"],
  ),
  startProcess<{ endpoint: string; tableName: string }>("local/dynamodb-main.ts", [
    "--table",
    "evse-ops-bench",
  ]),
]);

// Count DynamoDB requests by operation, as the service would bill them; writes also by the kind
// of item (the partition key's prefix), and the items each read request read.
const { documents } = localDynamoClients(dynamo.endpoint);
const operations = new Map<string, number>();
const writesByItem = new Map<string, number>();
let itemsRead = 0;
const KINDS: Array<[string, string]> = [
  ["HIST#", "history"],
  ["AVAIL#", "rollup"],
  ["FLEET", "snapshot"],
  ["EVSE", "device"],
  ["POLL", "checkpoint"],
  ["LEDGER", "ledger"],
];
const kindOf = (pk: unknown) =>
  KINDS.find(([prefix]) => String(pk).startsWith(prefix))?.[1] ?? "other";
documents.middlewareStack.add(
  (next, context) => async (args) => {
    const name = context.commandName ?? "unknown";
    operations.set(name, (operations.get(name) ?? 0) + 1);
    const input = args.input as { Item?: { pk?: unknown }; Key?: { pk?: unknown } };
    if (name === "PutItemCommand" || name === "UpdateItemCommand") {
      // Marshalled ({"S": …}) or not, depending on where in the stack this runs.
      const pk = input.Item?.pk ?? input.Key?.pk;
      const kind = kindOf(typeof pk === "object" && pk !== null && "S" in pk ? pk.S : pk);
      writesByItem.set(kind, (writesByItem.get(kind) ?? 0) + 1);
    }
    const result = await next(args);
    const output = result.output as {
      ScannedCount?: number;
      Item?: unknown;
      Responses?: Record<string, unknown[]>;
    };
    if (typeof output.ScannedCount === "number") itemsRead += output.ScannedCount;
    else if (output.Item !== undefined) itemsRead += 1;
    else if (output.Responses) {
      for (const items of Object.values(output.Responses)) itemsRead += items.length;
    }
    return result;
  },
  { step: "initialize", name: "countOperations" },
);

/** EventBridge has no local server: events are counted in batches of 10, as PutEvents takes them. */
let putEventsCalls = 0;
const fleetEvents: FleetEvent[] = [];
const countingPublisher: EventPublisher<ChangeEvent | FleetEvent> = {
  async publish(events) {
    putEventsCalls += Math.ceil(events.length / 10);
    for (const event of events) if (isFleetEvent(event)) fleetEvents.push(event);
    return { failed: [] };
  },
};

// The poll's and the API's clock, moved on together with the simulator's when the bench needs
// samples to age (a quarter of the fleet falling silent).
const clock = new OffsetClock();
async function control(path: string, body: unknown = {}) {
  const answer = await fetch(`${simulator.origin}/_sim/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new Error(`${path} failed: ${await answer.text()}`);
  return (await answer.json()) as Record<string, number>;
}
async function advance(minutes: number) {
  clock.advance(minutes * 60_000);
  await control("advance", { seconds: minutes * 60 });
  // The simulated fleet is static: its reporting devices sample now when told.
  await control("sample");
}

const pollParts = {
  config: loadPollEnvironment({
    TABLE_NAME: dynamo.tableName,
    EVENT_BUS_NAME: "bench",
    EVENERGY_SECRET_ID: "bench",
    EVENERGY_API_URL: simulator.apiBaseUrl,
    EVENERGY_TOKEN_URL: simulator.tokenUrl,
  }),
  secrets: defaultClientSecrets(),
  documents,
  publisher: countingPublisher,
  clock,
  random: systemRandom,
  logger: stderrLogger("error"),
  budgetEnabled: false,
};
const poller = createPoller(pollParts);
const pollerWithoutHealth = createPoller({ ...pollParts, withoutFleetHealth: true });

interface SweepFigures {
  sweep: string;
  pages: number;
  requests: number;
  ddbReadRequests: number;
  ddbWriteRequests: number;
  deviceWrites: number;
  changes: number;
  heartbeats: number;
  historyWrites: number;
  rollupWrites: number;
  snapshotWrites: number;
  healthWritesPerChange: number | null;
  fleetEvents: number;
  putEventsCalls: number;
  wallMs: number;
  floorMs: number;
  ratio: number;
}

const READS = ["QueryCommand", "GetItemCommand", "BatchGetItemCommand", "ScanCommand"];
const WRITES = [
  "PutItemCommand",
  "UpdateItemCommand",
  "DeleteItemCommand",
  "BatchWriteItemCommand",
];
const sum = (names: string[]) =>
  names.reduce((total, name) => total + (operations.get(name) ?? 0), 0);

async function measuredSweep(name: string, using = poller): Promise<SweepFigures> {
  // The simulated fleet is static and the clock real: a sweep at 100,000 lasts longer than the
  // staleness threshold, so the reporting devices sample now, as live chargers would.
  await control("sample");
  operations.clear();
  writesByItem.clear();
  putEventsCalls = 0;
  const started = performance.now();
  const summary: PollSummary = await using.poll({ runId: name, timeLimitMs: 30 * 60_000 });
  const wallMs = Math.round(performance.now() - started);
  if (!summary.sweepComplete) throw new Error(`${name} did not complete: ${summary.error}`);
  const counted = [...operations.keys()].filter(
    (op) => !READS.includes(op) && !WRITES.includes(op),
  );
  if (counted.length > 0) throw new Error(`uncounted DynamoDB operations: ${counted.join(", ")}`);
  const floorMs = summary.pages * latencyMs;
  const historyWrites = writesByItem.get("history") ?? 0;
  const rollupWrites = writesByItem.get("rollup") ?? 0;
  return {
    sweep: name,
    pages: summary.pages,
    requests: summary.requests,
    ddbReadRequests: sum(READS),
    ddbWriteRequests: sum(WRITES),
    deviceWrites: writesByItem.get("device") ?? 0,
    changes: summary.changes,
    heartbeats: summary.heartbeats,
    historyWrites,
    rollupWrites,
    snapshotWrites: writesByItem.get("snapshot") ?? 0,
    healthWritesPerChange:
      summary.changes > 0
        ? Math.round(((historyWrites + rollupWrites) / summary.changes) * 100) / 100
        : null,
    fleetEvents: summary.fleetEvents,
    putEventsCalls,
    wallMs,
    floorMs,
    ratio: Math.round((wallMs / floorMs) * 100) / 100,
  };
}

const churnShare = Number(values.churn);
const silenceShare = Number(values.silence);
const discovery = await measuredSweep("sweep 1 (discovery)");
// Side by side: a churn swept without fleet health, then the same share with it.
await control("churn", { fraction: churnShare });
const steadyWithout = await measuredSweep(
  `sweep 2 (${churnShare * 100}% changed, no fleet health)`,
  pollerWithoutHealth,
);
await control("churn", { fraction: churnShare });
const steady = await measuredSweep(`sweep 3 (${churnShare * 100}% changed)`);
// A quarter of the fleet falls silent at once; 20 minutes later the sweep finds it offline.
const { silenced = 0 } = await control("silence", { fraction: silenceShare });
await advance(20);
const silence = await measuredSweep(`sweep 4 (${silenced} fell silent)`);

// The API as the Lambda composes it, over the same table and clock.
const api = createDecommissionApi(
  {
    documents,
    tableName: dynamo.tableName,
    publisher: new RecordingPublisher<DecommissionEvent>(),
    queue: new LocalExecutionQueue({ clock }),
    clock,
    random: systemRandom,
    logger: stderrLogger("error"),
    signer: new HmacApprovalMac(Buffer.alloc(32, 1)),
  },
  {
    approverPatterns: ["arn:aws:iam::111111111111:role/approver"],
    pendingExpiryMs: 86_400_000,
    idempotencyRetentionMs: 86_400_000,
  },
);
const caller = "arn:aws:sts::111111111111:assumed-role/bench/bench";
async function apiGet(path: string, query: Record<string, string>, accept?: string) {
  const readsBefore = itemsRead;
  const requestsBefore = sum(READS);
  const started = performance.now();
  const result = await api(
    proxyEvent({
      method: "GET",
      path,
      query: Object.entries(query),
      headers: accept ? [["Accept", accept]] : [],
      callerArn: caller,
    }),
  );
  if (result.statusCode !== 200) throw new Error(`${path}: ${result.statusCode} ${result.body}`);
  return {
    body: result.body,
    bytes: Buffer.byteLength(result.body),
    ms: performance.now() - started,
    itemsRead: itemsRead - readsBefore,
    readRequests: sum(READS) - requestsBefore,
  };
}

// The silent chargers, every page of them: items read against items returned.
let silentReturned = 0;
let silentItemsRead = 0;
let silentPages = 0;
let silentWorstExcess = 0;
let cursor: string | undefined;
do {
  const page = await apiGet("/evses", {
    connectivity: "offline",
    silentFor: "PT20M",
    limit: "100",
    ...(cursor ? { cursor } : {}),
  });
  const parsed = JSON.parse(page.body) as { items: unknown[]; nextCursor: string | null };
  silentPages += 1;
  silentReturned += parsed.items.length;
  silentItemsRead += page.itemsRead;
  silentWorstExcess = Math.max(silentWorstExcess, page.itemsRead - parsed.items.length);
  cursor = parsed.nextCursor ?? undefined;
} while (cursor);

await control("recover");
await advance(1);
const recovery = await measuredSweep(`sweep 5 (${silenced} back)`);

// The month's fleet availability report, page by page (≤ 5,000 rows each).
async function report() {
  const month = monthOf(clock.now());
  const pages: Array<Awaited<ReturnType<typeof apiGet>> & { rows: number }> = [];
  let next: string | undefined;
  do {
    const page = await apiGet("/fleet/availability", { month, ...(next ? { cursor: next } : {}) });
    const parsed = JSON.parse(page.body) as { rows: unknown[]; nextCursor: string | null };
    next = parsed.nextCursor ?? undefined;
    pages.push({ ...page, rows: parsed.rows.length });
  } while (next);
  return {
    month,
    pages: pages.length,
    rows: pages.reduce((total, page) => total + page.rows, 0),
    totalMs: Math.round(pages.reduce((total, page) => total + page.ms, 0)),
    slowestPageMs: Math.round(Math.max(...pages.map((page) => page.ms))),
    largestPageBytes: Math.max(...pages.map((page) => page.bytes)),
    readRequests: pages.reduce((total, page) => total + page.readRequests, 0),
    itemsRead: pages.reduce((total, page) => total + page.itemsRead, 0),
  };
}
const jsonReport = await report();
const csvPage = await apiGet("/fleet/availability", { month: jsonReport.month }, "text/csv");
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);

// Side by side, the bare cursor chain: the same listing with the same client and nothing else.
const started = performance.now();
let listedPages = 0;
for await (const _page of poller.api.listEvses()) listedPages += 1;
const listingOnlyMs = Math.round(performance.now() - started);

// Side by side, the least a run can take while keeping "a run that dies re-reads at most one
// page": the same chain, with one checkpoint (the poll's own conditional write under the lease)
// saved before each next page is requested.
const sweeps = new DynamoSweepStore(documents, dynamo.tableName);
const chainOwner = "bench-chain";
const lease = await sweeps.acquire(chainOwner, clock.now(), 30 * 60_000);
if (!lease) throw new Error("the sweep lease is still held");
let chainCheckpoint = lease.checkpoint;
const chainStarted = performance.now();
for await (const page of poller.api.listEvses()) {
  chainCheckpoint = {
    ...chainCheckpoint,
    next: page.next ?? null,
    lastId: page.evses.at(-1)?.id ?? chainCheckpoint.lastId,
    pages: chainCheckpoint.pages + 1,
  };
  if (!(await sweeps.commit(chainOwner, clock.now(), chainCheckpoint, null))) {
    throw new Error("lost the sweep lease");
  }
}
const checkpointedChainMs = Math.round(performance.now() - chainStarted);
await sweeps.release(chainOwner);

console.log(`poll benchmark: ${fleet} EVSEs, ${latencyMs} ms added per request, budget off`);
const sweepTable = [discovery, steadyWithout, steady, silence, recovery];
console.table(
  sweepTable.map(({ sweep, pages, requests, ddbReadRequests, ddbWriteRequests, changes }) => ({
    sweep,
    pages,
    requests,
    ddbReadRequests,
    ddbWriteRequests,
    changes,
  })),
);
console.table(
  sweepTable.map((figures) => ({
    sweep: figures.sweep,
    deviceWrites: figures.deviceWrites,
    heartbeats: figures.heartbeats,
    historyWrites: figures.historyWrites,
    rollupWrites: figures.rollupWrites,
    "(history+rollup)/change": figures.healthWritesPerChange,
    snapshotWrites: figures.snapshotWrites,
    fleetEvents: figures.fleetEvents,
    wallMs: figures.wallMs,
    ratio: figures.ratio,
  })),
);
console.log(
  "ddbWriteRequests = device writes (PutItem, which also keeps the offline index) + history and" +
    " rollup writes + per page one checkpoint and one ledger update + lease take/release, the" +
    " snapshot and sweep completion",
);
console.log(
  `fleet events published: ${fleetEvents.map((event) => event.type).join(", ") || "none"}`,
);
console.log(
  `fleet health's cost in the steady sweep, side by side: ${steady.wallMs} ms with, ` +
    `${steadyWithout.wallMs} ms without = ${(steady.wallMs / steadyWithout.wallMs).toFixed(2)} ×`,
);
console.log(
  `silent chargers (connectivity=offline&silentFor=PT20M, 100 a page): ${silentReturned} returned` +
    ` in ${silentPages} pages, ${silentItemsRead} items read (at most ${silentWorstExcess} more` +
    " than returned on any page)",
);
console.log(
  `fleet availability report ${jsonReport.month} (JSON): ${jsonReport.rows} rows in` +
    ` ${jsonReport.pages} pages, ${jsonReport.totalMs} ms in all, slowest page` +
    ` ${jsonReport.slowestPageMs} ms (API Gateway allows 29,000 ms), largest page` +
    ` ${jsonReport.largestPageBytes} bytes; DynamoDB ${jsonReport.readRequests} read requests,` +
    ` ${jsonReport.itemsRead} items read; its first page as CSV: ${Math.round(csvPage.ms)} ms,` +
    ` ${csvPage.bytes} bytes`,
);
console.log(
  `listing alone (client only, no DynamoDB): ${listedPages} pages in ${listingOnlyMs} ms` +
    ` = ${(listingOnlyMs / (listedPages * latencyMs)).toFixed(2)} × floor`,
);
console.log(
  `listing with one checkpoint write before each next page: ${checkpointedChainMs} ms` +
    ` = ${(checkpointedChainMs / (listedPages * latencyMs)).toFixed(2)} × floor`,
);
console.log(
  JSON.stringify({
    fleet,
    pages: steady.pages,
    requests: steady.requests,
    ddbReadRequests: steady.ddbReadRequests,
    ddbWriteRequests: steady.ddbWriteRequests,
    deviceWrites: steady.deviceWrites,
    changes: steady.changes,
    heartbeats: steady.heartbeats,
    wallMs: steady.wallMs,
    floorMs: steady.floorMs,
    ratio: steady.ratio,
    listingOnlyMs,
    ratioToListingOnly: Math.round((steady.wallMs / listingOnlyMs) * 100) / 100,
    checkpointedChainMs,
    ratioToCheckpointedChain: Math.round((steady.wallMs / checkpointedChainMs) * 100) / 100,
    discoveryRequests: discovery.requests,
    discoveryRatio: discovery.ratio,
    steadyWithoutFleetHealthMs: steadyWithout.wallMs,
    ratioToWithoutFleetHealth: Math.round((steady.wallMs / steadyWithout.wallMs) * 100) / 100,
    steadyHealthWritesPerChange: steady.healthWritesPerChange,
    steadySnapshotWrites: steady.snapshotWrites,
    silenceChanges: silence.changes,
    silenceHealthWritesPerChange: silence.healthWritesPerChange,
    recoveryChanges: recovery.changes,
    recoveryHealthWritesPerChange: recovery.healthWritesPerChange,
    fleetEvents: fleetEvents.map((event) => event.type),
    silentReturned,
    silentItemsRead,
    silentPages,
    reportRows: jsonReport.rows,
    reportPages: jsonReport.pages,
    reportTotalMs: jsonReport.totalMs,
    reportSlowestPageMs: jsonReport.slowestPageMs,
    reportReadRequests: jsonReport.readRequests,
    reportItemsRead: jsonReport.itemsRead,
    peakRssMb,
  }),
);
process.exit(0);
