import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CliError } from "../../local/cli.js";
import {
  createTable,
  LocalDataUnavailable,
  localDynamoClients,
  startDynalite,
} from "../../local/dynamodb.js";
import { type Sandbox, type SandboxOptions, startSandbox } from "../../local/sandbox-app.js";
import { SandboxStateError } from "../../local/sandbox-state.js";
import { silentLogger } from "../support/poll-harness.js";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "evse-ops-sandbox-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Real time as the test says it is: simulated time is this plus the saved offset. */
let wall = Date.parse("2026-03-02T08:00:00Z");

async function start(dataDir: string, options: Partial<SandboxOptions> = {}) {
  const lines: string[] = [];
  const sandbox = await startSandbox({
    dataDir,
    reset: false,
    ports: { api: 0, simulator: 0, dynamodb: 0 },
    fleet: 200,
    deleteRealChargers: false,
    env: {},
    wall: () => wall,
    out: (line) => lines.push(line),
    logger: silentLogger,
    timers: false,
    ...options,
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await sandbox.close();
  };
  cleanups.push(close);
  return { sandbox, lines, close };
}

/** What `npm start` does between polls: real time passes, simulated time moves on. */
async function nextPoll(sandbox: Sandbox, runId: string, simulatedMs = 2 * MINUTE) {
  wall += 5_000;
  sandbox.advance(simulatedMs);
  return sandbox.poll(runId);
}

describe("the sandbox across a restart", () => {
  it("keeps detecting changes after simulated time moved a day, with no false EVSE Removed or Discovered", async () => {
    const dir = await folder();
    const first = await start(dir);
    await first.sandbox.poll("1");
    expect(first.lines).toContain(
      first.lines.find((line) => / EVSE Discovered +200 EVSEs discovered/.test(line)),
    );
    await nextPoll(first.sandbox, "2", DAY);
    const before = first.sandbox.clock.now();
    await first.close();

    wall += MINUTE;
    const second = await start(dir, { fleet: undefined });
    expect(second.sandbox.clock.now()).toBe(before + MINUTE);
    let changes = 0;
    for (let run = 3; run <= 8; run++) {
      const summary = await nextPoll(second.sandbox, String(run), 10 * MINUTE);
      expect(summary).toMatchObject({ sweepComplete: true, evsesSeen: expect.any(Number) });
      changes += summary.changesByType["EVSE Status Changed"] ?? 0;
    }
    expect(second.lines.filter((line) => / EVSE (Removed|Discovered) /.test(line))).toEqual([]);
    expect(changes).toBeGreaterThan(0);
    expect(second.lines.some((line) => / EVSE Status Changed /.test(line))).toBe(true);
  });

  it("refuses a saved fleet of another size or seed, naming --reset, and starts afresh with it", async () => {
    const dir = await folder();
    const first = await start(dir, { fleet: 20 });
    await first.sandbox.poll("1");
    await first.close();
    const refused = await start(dir, { fleet: 30 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CliError);
    expect(String((refused as Error).message)).toMatch(
      /holds a simulated fleet of 20 EVSEs from seed 1; 30 EVSEs from seed 1 is another fleet: add --reset/,
    );
    const reset = await start(dir, { fleet: 30, reset: true });
    expect((await reset.sandbox.poll("1")).evsesSeen).toBe(30);
  });

  it("refuses a damaged saved simulation, naming the file and --reset", async () => {
    const dir = await folder();
    await writeFile(join(dir, "simulation.json"), "{");
    const refused = await start(dir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SandboxStateError);
    expect((refused as Error).message).toMatch(/simulation\.json cannot be read .*--reset/);
  });
});

describe("two sandboxes in one checkout", () => {
  it("refuses a second on the same data folder, naming the first's pid and API; in its own folder both work", async () => {
    const shared = await folder();
    const first = await start(shared);
    const refused = await start(shared).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SandboxStateError);
    expect((refused as Error).message).toMatch(
      new RegExp(
        `^another sandbox \\(pid ${process.pid}, started .*, API ${first.sandbox.decommission.url}\\) is using ${shared}: stop it .* --data-dir$`,
      ),
    );
    const other = await start(await folder());
    expect((await first.sandbox.poll("1")).evsesSeen).toBe(200);
    expect((await other.sandbox.poll("1")).evsesSeen).toBe(200);
    await first.close();
    const after = await start(shared, { fleet: undefined });
    expect((await after.sandbox.poll("2")).stoppedBecause).toBeNull();
  });

  it("takes over a lock left by a process that is gone", async () => {
    const dir = await folder();
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(join(dir, "lock"), JSON.stringify({ pid: gone, startedAt: "earlier" }));
    const { sandbox } = await start(dir);
    expect((await sandbox.poll("1")).evsesSeen).toBe(200);
  });

  it("names a DynamoDB store held by another process instead of dynalite's 'Database is closed'", async () => {
    const dir = await folder();
    const held = await startDynalite({ path: dir });
    cleanups.push(() => held.close());
    // dynalite opens its store at the first request.
    const { client } = localDynamoClients(held.endpoint);
    await createTable(client, "held");
    client.destroy();
    const refused = await startDynalite({ path: dir }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LocalDataUnavailable);
    expect((refused as Error).message).toMatch(
      /^the embedded DynamoDB's data in .* is held by another process/,
    );
  });
});
