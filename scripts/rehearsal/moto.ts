/**
 * Starts the AWS emulator, moto, through the launcher beside this file (moto_server.py, which
 * holds the workarounds moto itself needs) on a free port of 127.0.0.1, and hands out SDK client
 * settings for it. moto cannot be installed from here (no PyPI): the machine's must be the
 * pinned version, or the rehearsal stops saying how to get it.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const MOTO_VERSION = "5.2.1";
const LAUNCHER = fileURLToPath(new URL("./moto_server.py", import.meta.url));
const PYTHON = process.env.REHEARSAL_PYTHON ?? "python3";

/** Where the emulator pretends to be: moto's default account. */
export const EMULATED = { partition: "aws", region: "eu-west-2", account: "123456789012" } as const;

export class MotoMissing extends Error {
  override readonly name = "MotoMissing";
}

export interface Moto {
  readonly endpoint: string;
  /** Settings for SDK clients the rehearsal itself uses (never the functions'). */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

/** Fails with MotoMissing, saying how to get moto, unless the pinned version is installed. */
export function checkMoto(): string {
  const found = spawnSync(PYTHON, [LAUNCHER, "--version"], { encoding: "utf8" });
  const version = found.error === undefined ? found.stdout.trim() : "";
  if (version !== MOTO_VERSION) {
    const what = found.error ? `${PYTHON} was not found` : `found moto ${version || "(none)"}`;
    throw new MotoMissing(
      `the rehearsal needs moto ${MOTO_VERSION} with its server in ${PYTHON} (${what}). Install it with: pip install "moto[server]==${MOTO_VERSION}"`,
    );
  }
  return version;
}

export async function startMoto(workDir: string): Promise<Moto> {
  checkMoto();
  const port = await freePort();
  const logFile = join(workDir, "moto.log");
  const log = createWriteStream(logFile);
  const child = spawn(PYTHON, [LAUNCHER, "-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const endpoint = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await Promise.race([
      fetch(`${endpoint}/moto-api/`).then(
        (response) => response.status,
        () => undefined,
      ),
      exited.then(() => "exited" as const),
    ]);
    if (status === "exited") {
      const tail = readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
      throw new Error(`moto did not start (see ${logFile}):\n${tail}`);
    }
    if (status !== undefined) break;
    if (Date.now() > deadline) throw new Error(`moto did not answer on ${endpoint} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    endpoint,
    clientConfig: {
      endpoint,
      region: EMULATED.region,
      credentials: { accessKeyId: "rehearsal", secretAccessKey: "rehearsal" },
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      // Its server threads may hold it a moment; it never gets more than five seconds.
      const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(kill);
      log.end();
    },
  };
}

/** A port nothing listens on now (the launcher binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}
