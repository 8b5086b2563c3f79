/**
 * `npm run poll -- --once`: one poll run with the same core as the Lambda. Its summary is the
 * last line on stdout (JSON); the exit code is 1 when the run ended on an error.
 *
 * With no configuration it polls an embedded simulator and DynamoDB of its own. Set
 * EVENERGY_API_URL with credentials (EVENERGY_ACCESS_TOKEN, or EVENERGY_CLIENT_ID +
 * EVENERGY_CLIENT_SECRET) to poll a real ev.energy account, and DYNAMODB_ENDPOINT + TABLE_NAME
 * to use another DynamoDB.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { pollFailed } from "../functions/poll-runtime.js";
import { startLocalEnvironment } from "./environment.js";
import { feedPublisher } from "./recording-publisher.js";
import { stderrLogger } from "./stderr-logger.js";

const { values } = parseArgs({
  options: {
    once: { type: "boolean", default: true },
    fleet: { type: "string", default: "200" },
    seed: { type: "string", default: "1" },
    "time-limit-seconds": { type: "string", default: "240" },
  },
});

const logger = stderrLogger();
const local = await startLocalEnvironment({
  simulator: { fleetSize: Number(values.fleet), seed: Number(values.seed) },
});
let failed = true;
try {
  const publisher = feedPublisher((event) =>
    logger.info("change", { type: event.type, evseId: event.evseId, eventId: event.eventId }),
  );
  const poller = local.createPoller(publisher, logger);
  const summary = await poller.poll({
    runId: randomUUID(),
    timeLimitMs: Number(values["time-limit-seconds"]) * 1000,
  });
  failed = pollFailed(summary);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await local.close();
}
process.exitCode = failed ? 1 : 0;
