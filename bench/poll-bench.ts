/**
 * `npm run bench` (add `-- --fleet 100000` for the large fleet): the poll against the simulated
 * ev.energy with 20 ms added latency per request, the simulator and the embedded DynamoDB each in
 * a process of their own, the poll in this one. Sweep 1 discovers the fleet; then about 5% of
 * devices change and sweep 2, the steady state, is measured. The rate-limit budget is off.
 * Then, side by side in the same run, two bare cursor chains with the same client: the listing
 * alone, and the listing with one checkpoint write before each next page (the least any run
 * that re-reads at most one page after dying can take).
 *
 * Prints a table, then one JSON line with the figures of sweep 2. The poll's process runs with
 * the V8 heap limits of the poll's Lambda function.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { DynamoSweepStore } from "../functions/adapters/dynamodb/sweep-store.js";
import { loadPollEnvironment } from "../functions/config.js";
import type { PollSummary } from "../functions/core/poll.js";
import { systemClock, systemRandom } from "../functions/lib/clock.js";
import { createPoller } from "../functions/poll-runtime.js";
import type { EventPublisher } from "../functions/ports.js";
import { DEFAULT_MEMORY_MB, lambdaHeapFlags } from "../infra/lambda-memory.js";
import { localDynamoClients } from "../local/dynamodb.js";
import { defaultClientSecrets } from "../local/simulator/index.js";
import { stderrLogger } from "../local/stderr-logger.js";

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

// Count DynamoDB requests by operation, as the service would bill them.
const { documents } = localDynamoClients(dynamo.endpoint);
const operations = new Map<string, number>();
documents.middlewareStack.add(
  (next, context) => async (args) => {
    const name = context.commandName ?? "unknown";
    operations.set(name, (operations.get(name) ?? 0) + 1);
    return next(args);
  },
  { step: "initialize", name: "countOperations" },
);

/** EventBridge has no local server: events are counted in batches of 10, as PutEvents takes them. */
let putEventsCalls = 0;
const countingPublisher: EventPublisher = {
  async publish(events) {
    putEventsCalls += Math.ceil(events.length / 10);
    return { failed: [] };
  },
};

const poller = createPoller({
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
  clock: systemClock,
  random: systemRandom,
  logger: stderrLogger("error"),
  budgetEnabled: false,
});

interface SweepFigures {
  sweep: string;
  pages: number;
  requests: number;
  ddbReadRequests: number;
  ddbWriteRequests: number;
  deviceWrites: number;
  changes: number;
  heartbeats: number;
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

async function measuredSweep(name: string): Promise<SweepFigures> {
  operations.clear();
  putEventsCalls = 0;
  const started = performance.now();
  const summary: PollSummary = await poller.poll({ runId: name, timeLimitMs: 30 * 60_000 });
  const wallMs = Math.round(performance.now() - started);
  if (!summary.sweepComplete) throw new Error(`${name} did not complete: ${summary.error}`);
  const counted = [...operations.keys()].filter(
    (op) => !READS.includes(op) && !WRITES.includes(op),
  );
  if (counted.length > 0) throw new Error(`uncounted DynamoDB operations: ${counted.join(", ")}`);
  const floorMs = summary.pages * latencyMs;
  return {
    sweep: name,
    pages: summary.pages,
    requests: summary.requests,
    ddbReadRequests: sum(READS),
    ddbWriteRequests: sum(WRITES),
    deviceWrites: operations.get("PutItemCommand") ?? 0,
    changes: summary.changes,
    heartbeats: summary.heartbeats,
    putEventsCalls,
    wallMs,
    floorMs,
    ratio: Math.round((wallMs / floorMs) * 100) / 100,
  };
}

const discovery = await measuredSweep("sweep 1 (discovery)");
const churned = await fetch(`${simulator.origin}/_sim/churn`, {
  method: "POST",
  body: JSON.stringify({ fraction: Number(values.churn) }),
});
if (!churned.ok) throw new Error(`churn failed: ${await churned.text()}`);
const steady = await measuredSweep(`sweep 2 (${Number(values.churn) * 100}% changed)`);
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
const lease = await sweeps.acquire(chainOwner, systemClock.now(), 30 * 60_000);
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
  if (!(await sweeps.commit(chainOwner, systemClock.now(), chainCheckpoint, null))) {
    throw new Error("lost the sweep lease");
  }
}
const checkpointedChainMs = Math.round(performance.now() - chainStarted);
await sweeps.release(chainOwner);

console.log(`poll benchmark: ${fleet} EVSEs, ${latencyMs} ms added per request, budget off`);
console.table([discovery, steady].map(({ sweep, ...figures }) => ({ sweep, ...figures })));
console.log(
  "ddbWriteRequests = device writes (PutItem) + per page one checkpoint and one ledger update" +
    " + lease take/release and sweep completion",
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
    peakRssMb,
  }),
);
process.exit(0);
