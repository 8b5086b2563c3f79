/**
 * `npm run bench -- --webhooks`: 1,000 Svix-signed webhooks into the sandbox's stack over real
 * HTTP (the receiver as deployed, a local queue, the worker), against the simulated ev.energy
 * with 20 ms added per request (in this process, so the benchmark can make each charger start
 * or stop charging just before its webhook) and the embedded DynamoDB in a process of its own.
 * A steady part (one webhook every 20 ms) and a burst (all at once), 5% of them delivered
 * twice; then one poll, which must publish nothing the webhooks already did.
 *
 * Prints p50 and p99 from webhook receipt to the change on the bus, requests spent per webhook,
 * duplicate event ids published (must be 0), and the busiest sliding hour of webhook requests
 * against the share; last a JSON line with the figures.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import { loadPollEnvironment, loadWebhookWorkerEnvironment } from "../functions/config.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../functions/core/fleet-alert.js";
import { busiestWindow, webhookShareOf } from "../functions/core/webhooks/budget.js";
import { systemRandom } from "../functions/lib/clock.js";
import { createPoller } from "../functions/poll-runtime.js";
import type { EventPublisher } from "../functions/ports.js";
import { WEBHOOK_PATH } from "../functions/webhook-receiver.js";
import { startApiServer } from "../local/api-server.js";
import { localDynamoClients } from "../local/dynamodb.js";
import { OffsetClock } from "../local/manual-clock.js";
import { defaultClientSecrets, startSimulator } from "../local/simulator/index.js";
import { stderrLogger } from "../local/stderr-logger.js";
import { startWebhookService } from "../local/webhook-service.js";

const { values } = parseArgs({
  options: {
    webhooks: { type: "boolean", default: true },
    count: { type: "string", default: "1000" },
    fleet: { type: "string", default: "2000" },
    "rate-limit": { type: "string", default: "100000" },
    share: { type: "string", default: "0.1" },
    burst: { type: "string", default: "200" },
  },
});
const count = Number(values.count);
const burst = Math.min(count, Number(values.burst));
const rateLimit = Number(values["rate-limit"]);
const SECRET = `whsec_${Buffer.from("evse-ops webhook benchmark key!!").toString("base64")}`;

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGTERM");
});
const dynamoProcess = spawn(
  process.execPath,
  ["--import", "tsx", "local/dynamodb-main.ts", "--table", "evse-ops-bench"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
children.push(dynamoProcess);
const ready = await createInterface({ input: dynamoProcess.stdout as NodeJS.ReadableStream })
  [Symbol.asyncIterator]()
  .next();
const dynamo = JSON.parse(String(ready.value)) as { endpoint: string; tableName: string };

const clock = new OffsetClock();
const sim = await startSimulator({
  fleetSize: Number(values.fleet),
  clock,
  rateLimit,
  faults: { latencyMs: 20 },
});
const { documents } = localDynamoClients(dynamo.endpoint);
/** DynamoDB calls while the webhooks are worked on, by the kind of item (its key's prefix). */
const tableCalls = new Map<string, number>();
let countingCalls = false;
documents.middlewareStack.add(
  (next, context) => async (args) => {
    if (countingCalls) {
      const input = args.input as { Key?: { pk?: unknown }; Item?: { pk?: unknown } };
      const kind = `${context.commandName} ${String(input.Key?.pk ?? input.Item?.pk ?? "").split("#")[0]}`;
      tableCalls.set(kind, (tableCalls.get(kind) ?? 0) + 1);
    }
    return next(args);
  },
  { step: "initialize", name: "benchCallCounter" },
);
const logger = stderrLogger("warn");
/** One set of variables for the poll and the worker, as a deployed stage sets them. */
const settings = {
  TABLE_NAME: dynamo.tableName,
  EVENT_BUS_NAME: "bench",
  EVENERGY_SECRET_ID: "bench",
  EVENERGY_API_URL: sim.apiBaseUrl,
  EVENERGY_TOKEN_URL: sim.tokenUrl,
  RATE_LIMIT_DEFAULT: String(rateLimit),
  WEBHOOK_BUDGET_SHARE: String(values.share),
};
const config = loadPollEnvironment(settings);

/** Every event on the "bus", with when it was published (and by event id, the first time). */
const published: Array<{ event: ChangeEvent; at: number }> = [];
const publishedAt = new Map<string, number>();
const bus: EventPublisher<ChangeEvent> = {
  async publish(events) {
    const at = Date.now();
    for (const event of events) {
      published.push({ event, at });
      if (!publishedAt.has(event.eventId)) publishedAt.set(event.eventId, at);
    }
    return { failed: [] };
  },
};
const latencies: number[] = [];
const outcomes = new Map<string, number>();
const service = startWebhookService({
  config: loadWebhookWorkerEnvironment(settings),
  secrets: defaultClientSecrets(sim.tokenUrl),
  documents,
  publisher: bus,
  clock,
  random: systemRandom,
  logger,
  signingSecret: SECRET,
  immediate: true,
  onResult: (result, message) => {
    outcomes.set(result.outcome, (outcomes.get(result.outcome) ?? 0) + 1);
    for (const event of result.events) {
      const at = publishedAt.get(event.eventId) ?? Date.now();
      latencies.push(at - message.receivedAt);
    }
  },
});
const server = await startApiServer({
  handler: service.receive,
  port: 0,
  logger,
  unsignedPaths: [WEBHOOK_PATH],
});
const pollBus: EventPublisher<ChangeEvent | FleetEvent> = {
  async publish(events) {
    const at = Date.now();
    for (const event of events) if (!isFleetEvent(event)) published.push({ event, at });
    return { failed: [] };
  },
};
const poller = createPoller({
  config,
  secrets: defaultClientSecrets(sim.tokenUrl),
  documents,
  publisher: pollBus,
  clock,
  random: systemRandom,
  logger,
  budgetEnabled: false,
});

// The fleet as the poll first finds it: every charger discovered and stored.
await poller.poll({ runId: "discovery", timeLimitMs: 600_000 });
const discovered = published.length;

let sent = 0;
/** Flips one charger's charging and sends the webhook that announces it (twice, for 5%). */
async function oneWebhook(index: number): Promise<void> {
  const devices = sim.fleet.list();
  const device = devices[index % devices.length];
  if (!device) return;
  const charging = !(device.status?.isCharging ?? false);
  sim.fleet.update(device.id, {
    status: { isPluggedIn: true, isCharging: charging, chargeRateWatts: charging ? 7_200 : 0 },
  });
  const now = clock.now();
  // ev.energy's sub-session times come from the charger's own samples.
  const sampledAt = sim.fleet.get(device.id)?.status?.sampledAt ?? now;
  const id = `msg_bench${String(index).padStart(8, "0")}`;
  const body = JSON.stringify({
    type: charging ? "charging_sub_session.created" : "charging_sub_session.ended",
    timestamp: new Date(now).toISOString(),
    data: {
      id: `csub${String(index).padStart(26, "0")}`,
      start: new Date(charging ? sampledAt : sampledAt - 60_000).toISOString(),
      end: charging ? null : new Date(sampledAt).toISOString(),
      evse: `${sim.apiBaseUrl}/evses/${device.id}`,
    },
  });
  const deliveries = index % 20 === 0 ? 2 : 1;
  for (let i = 0; i < deliveries; i += 1) {
    const signedAt = new Date();
    const answer = await fetch(`${server.url}${WEBHOOK_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(Math.floor(signedAt.getTime() / 1000)),
        "svix-signature": new Webhook(SECRET).sign(id, signedAt, body),
      },
      body,
    });
    await answer.arrayBuffer();
    if (answer.status !== 200) throw new Error(`webhook ${id} answered ${answer.status}`);
    sent += 1;
  }
}

countingCalls = true;
const steadyStart = Date.now();
for (let i = 0; i < count - burst; i += 1) {
  await oneWebhook(i);
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await service.queue.deliverDue();
const steadyMs = Date.now() - steadyStart;
const steadyLatencies = [...latencies];
await Promise.all(Array.from({ length: burst }, (_, i) => oneWebhook(count - burst + i)));
// A message left waiting (a retry, a contended ledger) is waited for up to 90 s, then reported.
for (const until = Date.now() + 90_000; service.queue.waiting > 0 && Date.now() < until; ) {
  await service.queue.deliverDue();
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const afterWebhooks = published.length;
countingCalls = false;
const confirm = await poller.poll({ runId: "confirm", timeLimitMs: 600_000 });

const refreshes = sim.requestLog().filter((entry) => entry.route === "GET /v2/evses/{id}");
const ids = published.slice(discovered).map((p) => p.event.eventId);
const duplicateEventIds = ids.length - new Set(ids).size;
const percentile = (list: number[], p: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
};
const share = webhookShareOf(
  { webhookShare: Number(values.share), defaultLimit: rateLimit, sendMarginMs: 0 },
  rateLimit,
);
const figures = {
  webhooks: count,
  deliveries: sent,
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  steadyP99Ms: percentile(steadyLatencies, 99),
  requestsPerWebhook: Number((refreshes.length / count).toFixed(3)),
  duplicateEventIds,
  busiestHourRequests: busiestWindow(refreshes.map((entry) => entry.at)),
  webhookShare: share,
};
console.log(
  `webhooks: ${count} (${sent} deliveries, ${sent - count} duplicates), fleet ${values.fleet}, rate limit ${rateLimit}/h, webhook share ${share}/h`,
);
console.log(`steady part: ${count - burst} webhooks in ${steadyMs} ms; burst: ${burst} at once`);
console.log(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
console.log(
  `receipt to bus: p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms (steady part p99 ${figures.steadyP99Ms} ms), ${latencies.length} changes`,
);
console.log(
  `over 1 s: ${latencies.filter((ms) => ms > 1_000).length}; over 10 s: ${latencies.filter((ms) => ms > 10_000).length}; longest ${Math.max(0, ...latencies)} ms`,
);
console.log(`requests per webhook: ${figures.requestsPerWebhook} (${refreshes.length} refreshes)`);
const calls = [...tableCalls.values()].reduce((sum, n) => sum + n, 0);
console.log(
  `DynamoDB calls per delivery: ${(calls / sent).toFixed(2)} (${[...tableCalls]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ")})`,
);
console.log(
  `events published by the webhooks: ${afterWebhooks - discovered}; by the confirming poll: ${confirm.eventsPublished}`,
);
console.log(
  `duplicate event ids: ${duplicateEventIds}; still queued at the end: ${service.queue.waiting}`,
);
console.log(
  `busiest sliding hour: ${figures.busiestHourRequests} webhook requests, share ${share}`,
);
console.log(JSON.stringify(figures));
await server.close();
await sim.close();
process.exit(0);
