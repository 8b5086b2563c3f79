/**
 * What the sandbox keeps in its data folder besides the embedded DynamoDB's store: a lock that
 * names the sandbox using the folder, and the simulation (the simulated clock's offset and the
 * simulated fleet), so a restart goes on where the last run stopped.
 */
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError } from "./cli.js";
import type { FleetSnapshot } from "./simulator/fleet.js";

/** Another sandbox holds the folder, or the saved state cannot be used; the message says which. */
export class SandboxStateError extends CliError {
  override readonly name = "SandboxStateError";
}

export interface LockOwner {
  pid: number;
  startedAt: string;
  /** What the owner serves, for the message a second sandbox prints. */
  urls?: Record<string, string>;
}

export interface SandboxLock {
  /** Records the owner's URLs once they are known. */
  describe(urls: Record<string, string>): Promise<void>;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes `<dir>/lock` for this process (created exclusively). A lock whose process is gone is
 * taken over; a live one is refused, naming its pid and what it serves.
 */
export async function lockDataDir(
  dir: string,
  owner: LockOwner = { pid: process.pid, startedAt: new Date().toISOString() },
): Promise<SandboxLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      let current = owner;
      return {
        describe: async (urls) => {
          current = { ...current, urls };
          await writeFile(path, JSON.stringify(current));
        },
        release: () => rm(path, { force: true }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let holder: Partial<LockOwner> = {};
    try {
      holder = JSON.parse(await readFile(path, "utf8")) as Partial<LockOwner>;
    } catch {
      // Being written right now, or damaged: judged by its pid below (none: stale).
    }
    if (typeof holder.pid === "number" && alive(holder.pid)) {
      const serving = holder.urls?.api ? `, API ${holder.urls.api}` : "";
      throw new SandboxStateError(
        `another sandbox (pid ${holder.pid}, started ${holder.startedAt ?? "?"}${serving}) is using ${dir}: stop it (Ctrl-C in its terminal, or kill ${holder.pid}), or give this one its own folder with --data-dir`,
      );
    }
    await rm(path, { force: true });
  }
  throw new SandboxStateError(`could not take the lock ${path}`);
}

export interface SavedSimulation {
  version: 1;
  /** Simulated time minus real time when saved. */
  clockOffsetMs: number;
  /** Simulated time when saved. */
  savedAt: number;
  fleet: FleetSnapshot;
}

const SIMULATION_FILE = "simulation.json";

/** The saved simulation, or undefined when there is none; a damaged file is refused. */
export async function loadSimulation(dir: string): Promise<SavedSimulation | undefined> {
  const path = join(dir, SIMULATION_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const saved = JSON.parse(text) as SavedSimulation;
    if (saved.version !== 1 || typeof saved.clockOffsetMs !== "number" || !saved.fleet) {
      throw new Error("not a saved simulation");
    }
    return saved;
  } catch (error) {
    throw new SandboxStateError(
      `${path} cannot be read (${error instanceof Error ? error.message : String(error)}): start afresh with --reset`,
    );
  }
}

/** Writes the simulation atomically (a whole file or the previous one, never half). */
export async function saveSimulation(dir: string, saved: SavedSimulation): Promise<void> {
  const path = join(dir, SIMULATION_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(saved));
  await rename(temporary, path);
}
