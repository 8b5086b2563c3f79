/**
 * `npm run check:readme`: runs every shell block of the README's quick start and sandbox
 * sections, in order, in one bash session, against a fresh sandbox this script starts (free
 * ports, its own data folder), and compares what each prints with the output block the README
 * shows right after it.
 *
 * - `npm ci && npm start` (or `npm start`): this checkout is installed already, so the check
 *   starts the sandbox itself, as `npm start -- <its ports and data folder>`, and compares the
 *   sandbox's own output with the block shown after it (at the end, once every other block ran).
 * - Every other block runs as written, with the README's ports (3000, 3001, 3002) replaced by
 *   the sandbox's; its stdout and stderr are compared with the output block after it.
 * - An output block matches when each of its lines matches a line of the output, in order (other
 *   output lines may come between). `…` in a line matches anything; times, EVSE ids, request ids
 *   and UUIDs match any other of their kind; a line that is only `…` stands for any lines.
 *
 * Prints one line per block and `N passed, N failed`; exits 1 when a block failed. With
 * README_CHECK_REPORT set, also writes `{"passed", "failed"}` to that file (for .ci/run).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECTIONS = ["## Quick start", "### In the sandbox (`npm start`)"];
const README_PORTS = { api: 3000, simulator: 3001, dynamodb: 3002 } as const;
const STEP_TIMEOUT_MS = 60_000;
/** Variables that would point the commands elsewhere than a fresh machine's defaults. */
const UNSET = /^(EVENERGY_|SANDBOX_|DYNAMODB_ENDPOINT$|TABLE_NAME$|LOG_LEVEL$|EVSE_OPS_API_URL$)/;

export interface Step {
  /** README line of the shell block's first command. */
  line: number;
  commands: string;
  expected?: { line: number; text: string };
}

/** The shell blocks of the named sections, each with the output block right after it. */
export function readmeSteps(readme: string, sections: readonly string[] = SECTIONS): Step[] {
  const lines = readme.split("\n");
  const steps: Step[] = [];
  for (const heading of sections) {
    const start = lines.indexOf(heading);
    if (start < 0) throw new Error(`README has no section "${heading}"`);
    const level = heading.split(" ")[0] ?? "##";
    let end = lines.length;
    for (let i = start + 1; i < lines.length; i++) {
      const marker = /^(#+) /.exec(lines[i] ?? "")?.[1];
      if (marker !== undefined && marker.length <= level.length) {
        end = i;
        break;
      }
    }
    const blocks: Array<{ lang: string; first: number; last: number; text: string }> = [];
    for (let i = start + 1; i < end; i++) {
      const open = /^```(\S*)\s*$/.exec(lines[i] ?? "");
      if (!open) continue;
      let close = i + 1;
      while (close < end && !/^```\s*$/.test(lines[close] ?? "")) close++;
      blocks.push({
        lang: open[1] ?? "",
        first: i + 1,
        last: close,
        text: lines.slice(i + 1, close).join("\n"),
      });
      i = close;
    }
    blocks.forEach((block, index) => {
      if (block.lang !== "sh") return;
      const next = blocks[index + 1];
      const adjacent =
        next !== undefined &&
        next.lang !== "sh" &&
        lines.slice(block.last + 1, next.first - 1).every((line) => line.trim() === "");
      steps.push({
        line: block.first + 1,
        commands: block.text,
        ...(adjacent && next ? { expected: { line: next.first + 1, text: next.text } } : {}),
      });
    });
  }
  return steps;
}

/** Times, ids and UUIDs made comparable: each matches any other of its kind. */
export function normalise(line: string): string {
  return line
    .replace(/\r$/, "")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, "<time>")
    .replace(/\b\d\d:\d\d:\d\d\b/g, "<clock>")
    .replace(/evse[0-9A-Z]{26}/g, "<evse>")
    .replace(/dcr_[0-9A-Z]{26}/g, "<dcr>")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .trimEnd();
}

/** Whether `actual` fits `pattern`, where `…` matches any run of characters. */
export function lineMatches(pattern: string, actual: string): boolean {
  const pieces = pattern.split("…");
  if (pieces.length === 1) return pattern === actual;
  const first = pieces[0] ?? "";
  const last = pieces.at(-1) ?? "";
  if (!actual.startsWith(first)) return false;
  let at = first.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = actual.indexOf(piece, at);
    if (found < 0) return false;
    at = found + piece.length;
  }
  return actual.length - last.length >= at && actual.endsWith(last);
}

/** The first expected line not found (in order) in the output, or undefined when all are. */
export function firstMissing(expected: string, output: string): string | undefined {
  const wanted = expected
    .split("\n")
    .map(normalise)
    .filter((line) => line.trim() !== "" && line.trim() !== "…");
  const seen = output
    .split("\n")
    .map(normalise)
    .filter((line) => line.trim() !== "");
  let at = 0;
  for (const line of wanted) {
    while (at < seen.length && !lineMatches(line, seen[at] ?? "")) at++;
    if (at >= seen.length) return line;
    at++;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One bash for every block, so variables and functions carry from block to block. */
class Shell {
  readonly #bash: ChildProcess;
  #buffer = "";
  #count = 0;

  constructor(env: NodeJS.ProcessEnv) {
    this.#bash = spawn("bash", ["--noprofile", "--norc"], {
      cwd: ROOT,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#bash.stdout?.on("data", (chunk: Buffer) => {
      this.#buffer += chunk.toString("utf8");
    });
    this.#bash.stderr?.on("data", (chunk: Buffer) => {
      this.#buffer += chunk.toString("utf8");
    });
    this.#bash.stdin?.write("exec 2>&1\n");
  }

  /** Runs the commands; resolves with what they printed and the last command's status. */
  async run(commands: string): Promise<{ output: string; status: number | "timeout" }> {
    this.#count += 1;
    const marker = `__readme_check_${this.#count}__`;
    this.#bash.stdin?.write(`${commands}\nprintf '\\n%s %s\\n' ${marker} "$?"\n`);
    const done = new RegExp(`\\n?${marker} (\\d+)\\n`);
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const found = done.exec(this.#buffer);
      if (found) {
        const output = this.#buffer.slice(0, found.index);
        this.#buffer = this.#buffer.slice(found.index + found[0].length);
        return { output, status: Number(found[1]) };
      }
      if (Date.now() > deadline) return { output: this.#buffer, status: "timeout" };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.#bash.stdin?.end();
    this.#bash.kill("SIGKILL");
  }
}

async function main(): Promise<number> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const steps = readmeSteps(readme);
  const ports = { api: await freePort(), simulator: await freePort(), dynamodb: await freePort() };
  const dataDir = await mkdtemp(join(tmpdir(), "evse-ops-readme-"));
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !UNSET.test(name)),
  );
  const toActual = (text: string) =>
    text
      .replaceAll(`127.0.0.1:${README_PORTS.api}`, `127.0.0.1:${ports.api}`)
      .replaceAll(`127.0.0.1:${README_PORTS.simulator}`, `127.0.0.1:${ports.simulator}`)
      .replaceAll(`127.0.0.1:${README_PORTS.dynamodb}`, `127.0.0.1:${ports.dynamodb}`);
  const toReadme = (text: string) =>
    text
      .replaceAll(`127.0.0.1:${ports.api}`, `127.0.0.1:${README_PORTS.api}`)
      .replaceAll(`127.0.0.1:${ports.simulator}`, `127.0.0.1:${README_PORTS.simulator}`)
      .replaceAll(`127.0.0.1:${ports.dynamodb}`, `127.0.0.1:${README_PORTS.dynamodb}`)
      .replaceAll(dataDir, ".sandbox");

  let passed = 0;
  let failed = 0;
  const report = (ok: boolean, step: Step, why = "", output = "") => {
    const first = step.commands.split("\n")[0] ?? "";
    if (ok) {
      passed += 1;
      console.log(`ok    README.md:${step.line}  ${first}`);
      return;
    }
    failed += 1;
    console.log(`FAIL  README.md:${step.line}  ${first}\n      ${why}`);
    const shown = toReadme(output).trimEnd().split("\n").slice(-40);
    for (const line of shown) console.log(`      | ${line}`);
  };

  let sandbox: ChildProcess | undefined;
  let sandboxOutput = "";
  let sandboxExit: Promise<{ code: number | null; signal: string | null }> = Promise.resolve({
    code: null,
    signal: null,
  });
  const startStep = steps.find((step) =>
    /^(npm ci && )?npm start\s*(#.*)?$/.test(step.commands.trim()),
  );
  const shell = new Shell(env);
  try {
    for (const step of steps) {
      if (step === startStep) {
        sandbox = spawn(
          "npm",
          [
            "start",
            "--",
            "--api-port",
            String(ports.api),
            "--simulator-port",
            String(ports.simulator),
            "--dynamodb-port",
            String(ports.dynamodb),
            "--data-dir",
            dataDir,
          ],
          // Its own process group, so stopping it reaches tsx and node under npm.
          { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
        );
        const child = sandbox;
        sandboxExit = new Promise((resolve) =>
          child.on("exit", (code, signal) => resolve({ code, signal })),
        );
        child.stdout?.on("data", (chunk: Buffer) => {
          sandboxOutput += chunk.toString("utf8");
        });
        child.stderr?.on("data", (chunk: Buffer) => {
          sandboxOutput += chunk.toString("utf8");
        });
        const deadline = Date.now() + STEP_TIMEOUT_MS;
        while (!/^── poll sandbox-1:/m.test(sandboxOutput) && Date.now() < deadline) {
          if (child.exitCode !== null) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (!/^── poll sandbox-1:/m.test(sandboxOutput)) {
          report(false, step, "the sandbox did not finish its first poll", sandboxOutput);
          return finish(passed, failed);
        }
        continue;
      }
      const { output, status } = await shell.run(toActual(step.commands));
      if (status === "timeout") {
        report(false, step, `no end within ${STEP_TIMEOUT_MS / 1000} s`, output);
        break;
      }
      if (status !== 0) {
        report(false, step, `the last command exited ${status}`, output);
        continue;
      }
      const missing = step.expected
        ? firstMissing(step.expected.text, toReadme(output))
        : undefined;
      if (missing !== undefined) {
        report(
          false,
          step,
          `README.md:${step.expected?.line} shows a line not printed: ${missing}`,
          output,
        );
      } else {
        report(true, step);
      }
    }

    if (startStep) {
      // The sandbox's feed grows while the other blocks run: give it time to show what is shown.
      const deadline = Date.now() + 30_000;
      let missing = startStep.expected
        ? firstMissing(startStep.expected.text, toReadme(sandboxOutput))
        : undefined;
      while (missing !== undefined && Date.now() < deadline && sandbox?.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        missing = firstMissing(startStep.expected?.text ?? "", toReadme(sandboxOutput));
      }
      if (sandbox?.pid !== undefined && sandbox.exitCode === null) {
        process.kill(-sandbox.pid, "SIGINT");
      }
      const stopped = await Promise.race([
        sandboxExit,
        new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 20_000)),
      ]);
      if (missing !== undefined) {
        report(
          false,
          startStep,
          `README.md:${startStep.expected?.line} shows a line not printed: ${missing}`,
          sandboxOutput,
        );
      } else if (!stoppedCleanly(stopped, sandboxOutput)) {
        const how =
          stopped === "timeout" ? "still running" : `exit ${stopped.code ?? stopped.signal}`;
        report(false, startStep, `Ctrl-C did not stop it cleanly (${how})`, sandboxOutput);
      } else {
        report(true, startStep);
      }
    }
  } finally {
    shell.close();
    if (sandbox?.pid !== undefined && sandbox.exitCode === null) {
      try {
        process.kill(-sandbox.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  }
  return finish(passed, failed);
}

/**
 * Ctrl-C reaches npm, tsx and the sandbox alike (one process group, as in a terminal): npm ends
 * by the signal, the sandbox says "stopping…" and prints nothing after it.
 */
function stoppedCleanly(
  stopped: { code: number | null; signal: string | null } | "timeout",
  output: string,
): boolean {
  if (stopped === "timeout") return false;
  const byCtrlC = stopped.code === 0 || (stopped.code === null && stopped.signal === "SIGINT");
  const after = output.split("stopping…")[1];
  return byCtrlC && after !== undefined && after.trim() === "";
}

async function finish(passed: number, failed: number): Promise<number> {
  console.log(`check:readme: ${passed} passed, ${failed} failed`);
  const reportFile = process.env.README_CHECK_REPORT;
  if (reportFile) await writeFile(reportFile, JSON.stringify({ passed, failed }));
  return failed > 0 || passed === 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`check:readme: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
