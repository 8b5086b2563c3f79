/**
 * Runs the simulated ev.energy in its own process (for benchmarks):
 *   npx tsx local/simulator/main.ts --port 0 --fleet 100000 --seed 1 --rate-limit 100000
 * Prints one JSON line with its URLs when ready; stops on SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { startSimulator } from "./index.js";

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  }
  return parsed;
}

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    fleet: { type: "string" },
    seed: { type: "string" },
    "latency-ms": { type: "string" },
    "rate-limit": { type: "string" },
    dynamic: { type: "boolean", default: false },
  },
  strict: true,
});

const latencyMs = integer("latency-ms", values["latency-ms"]);
const simulator = await startSimulator({
  port: integer("port", values.port),
  fleetSize: integer("fleet", values.fleet),
  seed: integer("seed", values.seed),
  rateLimit: integer("rate-limit", values["rate-limit"]),
  dynamic: values.dynamic,
  faults: latencyMs === undefined ? {} : { latencyMs },
});

process.stdout.write(
  `${JSON.stringify({
    origin: simulator.origin,
    apiBaseUrl: simulator.apiBaseUrl,
    tokenUrl: simulator.tokenUrl,
  })}\n`,
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  simulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
