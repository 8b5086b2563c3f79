/**
 * `npm run rehearse`: the synthesized stacks deployed to an AWS emulator (moto) and their
 * bundled functions run end to end against it and the simulated ev.energy, every AWS call the
 * functions make checked against the deployed policies (see flow.ts for the steps).
 *
 * Prints a table of the steps (outcome, time, what each showed) and, last, one JSON line:
 * `{"steps","failed","awsCalls","denied","skippedResourceTypes","wallMs"}`, also written to the
 * file REHEARSAL_REPORT names (for .ci/run's count). Exits 1 on any failure, 2 when moto is
 * missing. Work files (synth, function logs, moto's log) go to .rehearsal/.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import { STEPS, World } from "./flow.js";
import { checkMoto, MotoMissing } from "./moto.js";

type Outcome = "ok" | "FAILED" | "not run";

/** No step takes a minute even on a loaded machine: past this, something hangs. */
const STEP_TIMEOUT_MS = 150_000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the step did not end within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const started = Date.now();
const workDir = join(REPO_ROOT, ".rehearsal");
const reportFile = process.env.REHEARSAL_REPORT;

function report(summary: Record<string, unknown>): void {
  const line = JSON.stringify(summary);
  if (reportFile) writeFileSync(reportFile, `${line}\n`);
  console.log(line);
}

try {
  checkMoto();
} catch (error) {
  if (!(error instanceof MotoMissing)) throw error;
  console.error(`rehearsal: ${error.message}`);
  report({
    steps: STEPS.length,
    failed: STEPS.length,
    awsCalls: 0,
    denied: 0,
    skippedResourceTypes: [],
    wallMs: Date.now() - started,
  });
  process.exit(2);
}

rmSync(join(workDir, "logs"), { recursive: true, force: true });
rmSync(join(workDir, "functions"), { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
const world = new World(workDir);
const rows: Array<{ title: string; outcome: Outcome; ms: number; lines: string[] }> = [];
let failedAlready = false;

for (const [index, step] of STEPS.entries()) {
  if (failedAlready && !step.always) {
    rows.push({ title: step.title, outcome: "not run", ms: 0, lines: [] });
    continue;
  }
  const stepStarted = Date.now();
  process.stdout.write(`${String(index + 1).padStart(2)}  ${step.title} …\n`);
  let outcome: Outcome = "ok";
  let lines: string[];
  try {
    lines = await withTimeout(step.run(world), STEP_TIMEOUT_MS);
  } catch (error) {
    outcome = "FAILED";
    failedAlready = true;
    lines = (error instanceof Error ? error.message : String(error)).split("\n");
  }
  rows.push({ title: step.title, outcome, ms: Date.now() - stepStarted, lines });
}
await world.stop().catch((error: unknown) => console.error("rehearsal: stopping:", error));

const width = Math.max(...rows.map((row) => row.title.length));
console.log(`\n ${"#".padStart(2)}  ${"step".padEnd(width)}  outcome   time`);
for (const [index, row] of rows.entries()) {
  const time = row.outcome === "not run" ? "" : `${(row.ms / 1000).toFixed(1).padStart(5)} s`;
  console.log(
    ` ${String(index + 1).padStart(2)}  ${row.title.padEnd(width)}  ${row.outcome.padEnd(8)}  ${time}`,
  );
  for (const line of row.lines) console.log(`      ${line}`);
}
if (rows.some((row) => row.outcome !== "ok")) {
  console.log(
    `\nfunction logs: ${join(workDir, "logs")}; moto's log: ${join(workDir, "moto.log")}`,
  );
}

const failed = rows.filter((row) => row.outcome !== "ok").length;
const deployment = world.deployment;
report({
  steps: rows.length,
  failed,
  awsCalls: world.flowCalls?.length ?? world.recorder?.calls.length ?? 0,
  denied: world.probes.filter(
    (probe) => probe.call !== undefined && probe.call.decision !== "Allowed",
  ).length,
  skippedResourceTypes: [
    ...new Set([
      ...(deployment?.stateful.skippedTypes ?? []),
      ...(deployment?.stateless.skippedTypes ?? []),
    ]),
  ].sort(),
  wallMs: Date.now() - started,
});
process.exit(failed > 0 ? 1 : 0);
