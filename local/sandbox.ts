/**
 * `npm start`: the whole product on this machine, nothing to configure. A simulated ev.energy
 * whose fleet changes over simulated time, the embedded DynamoDB (persisted under .sandbox/),
 * the poll on a short timer, and a live feed of every change it detects. Ctrl-C stops it.
 *
 * Simulated time runs faster than real time (one poll interval of real time moves it by
 * SANDBOX_MINUTES_PER_POLL), so devices visibly change, fall silent and come back.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { DecommissionEvent } from "../functions/core/decommission/model.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../functions/core/fleet-alert.js";
import { summaryLine } from "../functions/core/fleet-snapshot.js";
import type { PollSummary } from "../functions/core/poll.js";
import { systemRandom } from "../functions/lib/clock.js";
import { pollFailed } from "../functions/poll-runtime.js";
import {
  deletionTarget,
  SANDBOX_APPROVER_ROLES,
  startDecommissionService,
} from "./decommission-service.js";
import { startLocalEnvironment } from "./environment.js";
import { feedPublisher } from "./recording-publisher.js";
import { stderrLogger } from "./stderr-logger.js";

const { values } = parseArgs({
  options: {
    "api-port": { type: "string", default: process.env.SANDBOX_API_PORT ?? "3000" },
    "simulator-port": { type: "string", default: process.env.SANDBOX_SIMULATOR_PORT ?? "3001" },
    "dynamodb-port": { type: "string", default: process.env.SANDBOX_DYNAMODB_PORT ?? "3002" },
    fleet: { type: "string", default: process.env.SANDBOX_FLEET ?? "200" },
    seed: { type: "string", default: "1" },
    "poll-seconds": { type: "string", default: "5" },
    "minutes-per-poll": { type: "string", default: process.env.SANDBOX_MINUTES_PER_POLL ?? "2" },
    reset: { type: "boolean", default: false },
    // Pointed at a real ev.energy account, approved requests would DELETE real chargers.
    "delete-real-chargers": { type: "boolean", default: false },
  },
});

const port = (name: keyof typeof values) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`--${name} must be a port number (0-65535), got ${values[name]}`);
  }
  return value;
};

const dataDir = ".sandbox/dynamodb";
if (values.reset) await rm(".sandbox", { recursive: true, force: true });
await mkdir(dataDir, { recursive: true });
const approvalKey = await sandboxApprovalKey(".sandbox/approval-key");

const logger = stderrLogger();
const local = await startLocalEnvironment({
  simulator: {
    port: port("simulator-port"),
    fleetSize: Number(values.fleet),
    seed: Number(values.seed),
    dynamic: true,
  },
  dynamoPort: port("dynamodb-port"),
  dynamoPath: dataDir,
});

const publisher = feedPublisher<ChangeEvent | FleetEvent>(printChange);
const poller = local.createPoller(publisher, logger);

console.log("evse-ops sandbox is running (Ctrl-C stops it)");
if (local.simulator) {
  console.log(
    `  simulated ev.energy  ${local.simulator.apiBaseUrl}  (controls: ${local.simulator.origin}/_sim/stats)`,
  );
} else {
  console.log(`  ev.energy            ${local.config.EVENERGY_API_URL}`);
}
console.log(
  `  embedded DynamoDB    ${local.dynamoEndpoint}  (table ${local.config.TABLE_NAME}, data in ${dataDir})`,
);
console.log(
  `  poll                 every ${values["poll-seconds"]} s, ${values["minutes-per-poll"]} simulated minutes apart`,
);
// The decommission API, executor and reconciler (see local/decommission-service.ts). Against
// a real ev.energy account nothing is deleted unless the flag says so, loudly.
const deletions = deletionTarget({
  simulated: local.simulator !== undefined,
  apiUrl: local.config.EVENERGY_API_URL,
  deleteRealChargers: values["delete-real-chargers"],
});
const decommission = await startDecommissionService({
  documents: local.documents,
  tableName: local.config.TABLE_NAME,
  publisher: feedPublisher<DecommissionEvent>((event) =>
    console.log(
      `${event.detectedAt.slice(11, 19)}  ${event.type.padEnd(26)} ${event.evseId} ${event.requestId}`,
    ),
  ),
  clock: local.clock,
  random: systemRandom,
  logger,
  writeSecrets: local.secrets,
  apiUrl: local.config.EVENERGY_API_URL,
  tokenUrl: local.config.EVENERGY_TOKEN_URL,
  port: port("api-port"),
  approvalKey,
  executes: deletions.executes,
  timers: { queueEveryMs: 1_000, reconcileEveryMs: 30_000 },
});
console.log(
  `  decommission API     ${decommission.url}  (caller from the X-Principal header: local only; approvers: sessions of ${SANDBOX_APPROVER_ROLES.join(", ")})`,
);
console.log(`  decommissions        ${deletions.banner}`);
console.log("");

const pollEveryMs = Number(values["poll-seconds"]) * 1000;
const simulatedStepMs = Number(values["minutes-per-poll"]) * 60_000;
let stopping = false;
let timer: NodeJS.Timeout | undefined;
let running: Promise<void> = Promise.resolve();
let runs = 0;

async function pollOnce(): Promise<void> {
  runs += 1;
  const summary = await poller.poll({ runId: `sandbox-${runs}`, timeLimitMs: 60_000 });
  printSummary(summary);
}

/** One run, then the next scheduled: a run that crashes is logged, and the next still comes. */
function runThenSchedule(): Promise<void> {
  return pollOnce()
    .catch((error: unknown) => logger.error("poll run crashed", { error: String(error) }))
    .finally(schedule);
}

function schedule(): void {
  if (stopping) return;
  timer = setTimeout(() => {
    if (local.simulator) local.simulator.advance(simulatedStepMs);
    running = runThenSchedule();
  }, pollEveryMs);
}

running = runThenSchedule();

async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearTimeout(timer);
  console.log("\nstopping…");
  await running.catch(() => undefined);
  await decommission.close();
  await local.close();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

function printChange(event: ChangeEvent | FleetEvent): void {
  const time = new Date(local.clock.now()).toISOString().slice(11, 19);
  if (isFleetEvent(event)) {
    const counts =
      event.type === "EVSE Fleet Connectivity Degraded"
        ? `${event.newlyOffline} of ${event.activeFleet} EVSEs newly offline this sweep`
        : `${event.offline} offline (${event.baselineOffline} before)`;
    console.log(`${time}  ${event.type}  ${counts}`);
    return;
  }
  const what =
    event.type === "EVSE Status Changed"
      ? (event.changedFields ?? [])
          .map((change) => `${change.field} ${String(change.previous)} → ${String(change.current)}`)
          .join(", ")
      : event.type === "EVSE Connectivity Changed"
        ? `${event.previous?.connectivity} → ${event.current.connectivity}`
        : "";
  console.log(`${time}  ${event.type.padEnd(26)} ${event.evseId} ${event.cpid ?? ""}  ${what}`);
}

function printSummary(summary: PollSummary): void {
  const status = pollFailed(summary)
    ? `failed: ${summary.error}`
    : (summary.stoppedBecause ?? "ok");
  console.log(
    `── poll ${summary.runId}: ${summary.pages} pages, ${summary.requests} requests, ` +
      `${summary.evsesSeen} EVSEs, ${summary.changes} changes, ${summary.writes} writes, ` +
      `sweep ${summary.sweepComplete ? "complete" : "partial"} (${status})`,
  );
  if (summary.snapshot) console.log(`── fleet: ${summaryLine(summary.snapshot)}`);
}

/** The sandbox's approval-signing key, made once and kept with its data. */
async function sandboxApprovalKey(path: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(path, "utf8")).trim(), "base64");
    if (key.length >= 32) return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32);
  await writeFile(path, key.toString("base64"), { mode: 0o600 });
  return key;
}
