/**
 * `npm run poll -- --once`: one poll run with the same core as the Lambda. Its summary is the
 * last line on stdout (JSON); the exit code is 1 when the run ended on an error (see `--help`).
 *
 * With no configuration it polls an embedded simulator and DynamoDB of its own. Set
 * EVENERGY_API_URL with credentials (EVENERGY_ACCESS_TOKEN, or EVENERGY_CLIENT_ID +
 * EVENERGY_CLIENT_SECRET) to poll a real ev.energy account (or the sandbox's simulator), and
 * DYNAMODB_ENDPOINT + TABLE_NAME to use another DynamoDB.
 */
import { randomUUID } from "node:crypto";
import { helpText, parseCommandLine, positiveNumber, runCommand, wholeNumber } from "./cli.js";
import { POLL_COMMAND } from "./commands.js";

await runCommand(POLL_COMMAND, async () => {
  const parsed = parseCommandLine(POLL_COMMAND, process.argv.slice(2));
  if (parsed.help) {
    process.stdout.write(helpText(POLL_COMMAND));
    return 0;
  }
  const { values } = parsed;
  const fleetSize = wholeNumber("--fleet", values.fleet, { min: 0, max: 1_000_000 });
  const seed = wholeNumber("--seed", values.seed, { min: 0, max: 4_294_967_295 });
  const timeLimitMs = positiveNumber("--time-limit-seconds", values["time-limit-seconds"]) * 1000;
  // Loaded once the flags are known good: a wrong flag is answered at once.
  const [
    { pollFailed },
    { checkLocalEnvironment, startLocalEnvironment },
    { feedPublisher },
    { stderrLogger },
  ] = await Promise.all([
    import("../functions/poll-runtime.js"),
    import("./environment.js"),
    import("./recording-publisher.js"),
    import("./stderr-logger.js"),
  ]);
  checkLocalEnvironment(process.env);

  const logger = stderrLogger();
  const local = await startLocalEnvironment({ simulator: { fleetSize, seed } });
  let failed = true;
  try {
    const publisher = feedPublisher((event) =>
      logger.info("change", { type: event.type, evseId: event.evseId, eventId: event.eventId }),
    );
    const poller = local.createPoller(publisher, logger);
    const summary = await poller.poll({ runId: randomUUID(), timeLimitMs });
    failed = pollFailed(summary);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await local.close();
  }
  return failed ? 1 : 0;
});
