/**
 * `npm start`: the whole product on this machine, nothing to configure (see `--help` and
 * local/sandbox-app.ts). Flags and the environment are checked before anything starts; a
 * second sandbox on the same data folder is refused, naming the first.
 *
 * Simulated time runs faster than real time (one poll interval of real time moves it by
 * `--minutes-per-poll`, a step every second), so devices visibly change, fall silent and come
 * back, and the simulator's webhooks announce charging starts and stops between polls.
 */
import { helpText, parseCommandLine, runCommand } from "./cli.js";
import { SANDBOX_COMMAND, sandboxSettings } from "./commands.js";

await runCommand(SANDBOX_COMMAND, async () => {
  const argv = process.argv.slice(2);
  const parsed = parseCommandLine(SANDBOX_COMMAND, argv);
  if (parsed.help) {
    process.stdout.write(helpText(SANDBOX_COMMAND));
    return 0;
  }
  const settings = sandboxSettings(parsed.values, argv);
  // Loaded once the flags are known good: a wrong flag is answered at once.
  const [{ checkLocalEnvironment }, { startSandbox }, { stderrLogger }] = await Promise.all([
    import("./environment.js"),
    import("./sandbox-app.js"),
    import("./stderr-logger.js"),
  ]);
  checkLocalEnvironment(process.env);
  const logger = stderrLogger();

  const sandbox = await startSandbox({
    dataDir: settings.dataDir,
    reset: settings.reset,
    ports: settings.ports,
    fleet: settings.fleet,
    seed: settings.seed,
    deleteRealChargers: settings.deleteRealChargers,
    env: process.env,
    out: (line) => console.log(line),
    logger,
    timers: true,
    // Time flows in one-second steps between polls, not in a jump before each: a charger that
    // starts charging is announced by its webhook in that second, before the poll comes by.
    simulatedMsPerSecond: (settings.minutesPerPoll * 60_000) / settings.pollSeconds,
  });
  console.log("evse-ops sandbox is running (Ctrl-C stops it)");
  for (const line of sandbox.banner()) console.log(line);
  console.log(
    `  poll                 every ${settings.pollSeconds} s, ${settings.minutesPerPoll} simulated minutes apart`,
  );
  console.log("");

  const pollEveryMs = settings.pollSeconds * 1000;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let runs = 0;

  /** One run, then the next scheduled: a run that crashes is logged, and the next still comes. */
  const runThenSchedule = (): Promise<void> => {
    runs += 1;
    return sandbox
      .poll(`sandbox-${runs}`)
      .then(() => undefined)
      .catch((error: unknown) => logger.error("poll run crashed", { error: String(error) }))
      .finally(schedule);
  };
  const schedule = (): void => {
    if (stopping) return;
    timer = setTimeout(() => {
      running = runThenSchedule();
    }, pollEveryMs);
  };
  running = runThenSchedule();

  await new Promise<void>((resolve) => {
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      console.log("\nstopping…");
      running
        .catch(() => undefined)
        .then(() => sandbox.close())
        .then(resolve, (error: unknown) => {
          logger.error("sandbox did not stop cleanly", { error: String(error) });
          resolve();
        });
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  // Sockets the SDK keeps alive must not hold the process open.
  process.exit(0);
});
