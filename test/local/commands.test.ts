import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialsError } from "../../functions/adapters/ev-energy/errors.js";
import { ConfigurationError } from "../../functions/config.js";
import {
  CliError,
  describeFailure,
  helpText,
  parseCommandLine,
  runCommand,
  UsageError,
} from "../../local/cli.js";
import {
  API_COMMAND,
  POLL_COMMAND,
  SANDBOX_COMMAND,
  sandboxSettings,
} from "../../local/commands.js";
import { checkLocalEnvironment } from "../../local/environment.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command's script as npm would (node with tsx), with its own environment. */
function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, script), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const USAGE = "usage: npm start -- [options]  (npm start -- --help for more)";

describe("npm start, npm run poll and npm run api as a person runs them", () => {
  let dir: string;
  let runs: Record<string, Ran>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "evse-ops-cli-"));
    const data = ["--data-dir", join(dir, "data")];
    // One batch of processes in parallel: each start of tsx costs about a second.
    const cases: Record<string, [string, string[], Record<string, string>?]> = {
      fleet: ["local/sandbox.ts", ["--fleet", "abc", ...data]],
      apiPort: ["local/sandbox.ts", ["--api-port", "abc", ...data]],
      unknown: ["local/sandbox.ts", ["--flet", "3", ...data]],
      envPort: ["local/sandbox.ts", data, { SANDBOX_SIMULATOR_PORT: "70000" }],
      logLevel: ["local/sandbox.ts", data, { LOG_LEVEL: "warning" }],
      tableOnly: ["local/poll-once.ts", [], { TABLE_NAME: "t" }],
      pollFlag: ["local/poll-once.ts", ["--fleet=-3"]],
      secret: [
        "local/poll-once.ts",
        [],
        { EVENERGY_API_URL: "https://api.ev.energy/v2", EVENERGY_CLIENT_ID: "x" },
      ],
      apiNoUrl: ["scripts/evse-ops-api.ts", ["get", "dcr_x"]],
      apiUnknown: [
        "scripts/evse-ops-api.ts",
        ["approve", "dcr_x", "--comit", "no", "--url", "http://127.0.0.1:9"],
      ],
      sandboxHelp: ["local/sandbox.ts", ["--help"]],
      pollHelp: ["local/poll-once.ts", ["--help"]],
      apiHelp: ["scripts/evse-ops-api.ts", ["--help"]],
    };
    const entries = await Promise.all(
      Object.entries(cases).map(
        async ([name, [script, args, env]]) => [name, await run(script, args, env)] as const,
      ),
    );
    runs = Object.fromEntries(entries);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("refuses a bad flag or value before anything starts: one line naming it, the usage, exit 2", () => {
    expect(runs.fleet).toEqual({
      code: 2,
      stdout: "",
      stderr: `npm start: --fleet must be a whole number from 0 to 1000000, got "abc"\n${USAGE}\n`,
    });
    expect(runs.apiPort?.stderr).toBe(
      `npm start: --api-port must be a port number from 0 to 65535, got "abc"\n${USAGE}\n`,
    );
    expect(runs.unknown?.stderr).toBe(`npm start: unknown flag --flet\n${USAGE}\n`);
    expect(runs.envPort?.stderr).toBe(
      `npm start: SANDBOX_SIMULATOR_PORT must be a port number from 0 to 65535, got "70000"\n${USAGE}\n`,
    );
    for (const name of ["apiPort", "unknown", "envPort"]) expect(runs[name]?.code).toBe(2);
    // Nothing started: not even the data folder was made.
    expect(existsSync(join(dir, "data"))).toBe(false);
  });

  it("refuses bad environment values in one line naming them, exit 1", () => {
    expect(runs.logLevel).toEqual({
      code: 1,
      stdout: "",
      stderr: 'npm start: LOG_LEVEL must be one of debug, info, warn, error, got "warning"\n',
    });
    expect(runs.tableOnly?.stderr).toBe(
      "npm run poll: TABLE_NAME is set but DYNAMODB_ENDPOINT is not: set both to use another DynamoDB, or neither for the embedded one\n",
    );
    expect(runs.pollFlag?.stderr).toBe(
      'npm run poll: --fleet must be a whole number from 0 to 1000000, got "-3"\nusage: npm run poll -- [--once] [options]  (npm run poll -- --help for more)\n',
    );
    expect(runs.secret).toMatchObject({
      code: 1,
      stderr: "npm run poll: EVENERGY_CLIENT_ID is set but EVENERGY_CLIENT_SECRET is missing\n",
    });
    expect(runs.apiNoUrl).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^npm run api: --url or EVSE_OPS_API_URL is required\nusage: /),
    });
    expect(runs.apiUnknown?.stderr).toMatch(/^npm run api: unknown flag --comit\nusage: /);
  });

  it("prints each command's help, exit 0", () => {
    expect(runs.sandboxHelp).toEqual({ code: 0, stdout: helpText(SANDBOX_COMMAND), stderr: "" });
    expect(runs.pollHelp).toEqual({ code: 0, stdout: helpText(POLL_COMMAND), stderr: "" });
    expect(runs.apiHelp).toEqual({ code: 0, stdout: helpText(API_COMMAND), stderr: "" });
  });

  it("shows the same help in the README", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    for (const spec of [SANDBOX_COMMAND, POLL_COMMAND, API_COMMAND]) {
      expect(readme).toContain(`\`\`\`\n${helpText(spec)}\`\`\``);
    }
  });
});

describe("the command-line boundary", () => {
  it("reads defaults from the flag's variable, then its default, and names the source of a bad value", () => {
    const parsed = parseCommandLine(SANDBOX_COMMAND, ["--reset"], { SANDBOX_API_PORT: "4000" });
    if (parsed.help) throw new Error("not help");
    const settings = sandboxSettings(parsed.values, ["--reset"], { SANDBOX_API_PORT: "4000" });
    expect(settings).toMatchObject({
      ports: { api: 4000, simulator: 3001, dynamodb: 3002 },
      dataDir: ".sandbox",
      fleet: undefined,
      pollSeconds: 5,
      reset: true,
    });
    expect(parseCommandLine(SANDBOX_COMMAND, ["-h"])).toEqual({ help: true });
    expect(() => parseCommandLine(SANDBOX_COMMAND, ["--fleet"])).toThrow("--fleet needs a value");
    expect(() => parseCommandLine(SANDBOX_COMMAND, ["50"])).toThrow(
      'unexpected argument "50" (flags go after --, e.g. npm start -- --fleet 50)',
    );
  });

  it("turns each kind of failure into one line and an exit code, the stack only on request", async () => {
    expect(describeFailure(new UsageError("bad"))).toEqual({ line: "bad", code: 2 });
    for (const error of [
      new ConfigurationError("invalid configuration: X is not set"),
      new CredentialsError("ev.energy secret is empty"),
      new CliError("port 3000 is in use"),
    ]) {
      expect(describeFailure(error)).toEqual({ line: error.message, code: 1 });
    }
    const unexpected = describeFailure(
      new TypeError("boom\nsecond line", { cause: new Error("why") }),
    );
    expect(unexpected).toMatchObject({
      line: "TypeError: boom; second line: why (LOG_LEVEL=debug shows where)",
      code: 1,
    });
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8000"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 8000,
    });
    expect(describeFailure(refused)).toEqual({
      line: "cannot reach 127.0.0.1:8000: connection refused (ECONNREFUSED)",
      code: 1,
    });
    const written: string[] = [];
    let exit: number | undefined;
    await runCommand(
      SANDBOX_COMMAND,
      async () => {
        throw new UsageError("--fleet must be a whole number");
      },
      { stderr: (text) => written.push(text), exit: (code) => (exit = code) },
    );
    expect(written.join("")).toBe(`npm start: --fleet must be a whole number\n${USAGE}\n`);
    expect(exit).toBe(2);
  });

  it("checks the environment: credentials need EVENERGY_API_URL, DynamoDB needs both, settings valid", () => {
    expect(() =>
      checkLocalEnvironment({ EVENERGY_CLIENT_ID: "x", EVENERGY_CLIENT_SECRET: "y" }),
    ).toThrow("EVENERGY_CLIENT_ID, EVENERGY_CLIENT_SECRET are set but EVENERGY_API_URL is not");
    expect(() => checkLocalEnvironment({ DYNAMODB_ENDPOINT: "http://127.0.0.1:8000" })).toThrow(
      "DYNAMODB_ENDPOINT is set but TABLE_NAME is not",
    );
    expect(() => checkLocalEnvironment({ STALENESS_MINUTES: "soon" })).toThrow(ConfigurationError);
    expect(() => checkLocalEnvironment({ LOG_LEVEL: "INFO" })).not.toThrow();
    expect(() =>
      checkLocalEnvironment({ DYNAMODB_ENDPOINT: "http://127.0.0.1:8000", TABLE_NAME: "t" }),
    ).not.toThrow();
  });
});
