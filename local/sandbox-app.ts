/**
 * The sandbox `npm start` runs, composed: a lock on its data folder, the simulated ev.energy
 * (going on from the saved simulation), the embedded DynamoDB, the poll with a live feed of the
 * changes it detects, and the decommission API, executor and reconciler. `local/sandbox.ts` is
 * its command line; tests start it with their own clock and folders.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadWebhookWorkerEnvironment } from "../functions/config.js";
import type { DecommissionEvent } from "../functions/core/decommission/model.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import { type FleetEvent, isFleetEvent } from "../functions/core/fleet-alert.js";
import { summaryLine as fleetSummaryLine } from "../functions/core/fleet-snapshot.js";
import type { PollSummary } from "../functions/core/poll.js";
import { systemRandom } from "../functions/lib/clock.js";
import { pollFailed } from "../functions/poll-runtime.js";
import type { Logger } from "../functions/ports.js";
import { WEBHOOK_PATH } from "../functions/webhook-receiver.js";
import { CliError } from "./cli.js";
import {
  deletionTarget,
  SANDBOX_APPROVER_ROLES,
  startDecommissionService,
} from "./decommission-service.js";
import { startLocalEnvironment } from "./environment.js";
import { OffsetClock } from "./manual-clock.js";
import { feedPublisher } from "./recording-publisher.js";
import { loadSimulation, lockDataDir, saveSimulation } from "./sandbox-state.js";
import { SIMULATOR_DEFAULTS } from "./simulator/index.js";
import { SimWebhookSender } from "./simulator/webhooks.js";
import { startWebhookService } from "./webhook-service.js";

export interface SandboxOptions {
  /** Where the sandbox keeps its data (`.sandbox` by default). */
  dataDir: string;
  /** Start afresh: the folder's data is deleted first (after taking its lock). */
  reset: boolean;
  /** 0: any free port. */
  ports: { api: number; simulator: number; dynamodb: number };
  /** The simulated fleet's size and seed; undefined: the saved fleet's, else the defaults. */
  fleet?: number | undefined;
  seed?: number | undefined;
  deleteRealChargers: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** Real time (default Date.now): simulated time is real time plus the saved offset. */
  wall?: () => number;
  /** Where the feed goes, one line at a time. */
  out: (line: string) => void;
  logger: Logger;
  /** Real-time timers for the decommission queue and reconciler (off in tests). */
  timers: boolean;
  /**
   * With timers: how far each real second moves simulated time (and the simulated fleet with
   * it), so chargers change between polls and their webhooks, sent in the same second, can get
   * there first. Default 0: simulated time moves only with real time and `advance`.
   */
  simulatedMsPerSecond?: number;
}

/** A poll that discovers (or removes) more than this many EVSEs prints a count instead. */
const MAX_LISTED = 5;

export type Sandbox = Awaited<ReturnType<typeof startSandbox>>;

export async function startSandbox(options: SandboxOptions) {
  const { dataDir, logger } = options;
  const lock = await lockDataDir(dataDir);
  const closers: Array<() => Promise<void>> = [() => lock.release()];
  try {
    if (options.reset) await emptyExceptLock(dataDir);
    await mkdir(join(dataDir, "dynamodb"), { recursive: true });
    const simulated = !options.env.EVENERGY_API_URL;
    const saved = simulated ? await loadSimulation(dataDir) : undefined;
    const fleetSize = options.fleet ?? saved?.fleet.size ?? SIMULATOR_DEFAULTS.fleetSize;
    const seed = options.seed ?? saved?.fleet.seed ?? SIMULATOR_DEFAULTS.seed;
    if (saved && (saved.fleet.size !== fleetSize || saved.fleet.seed !== seed)) {
      throw new CliError(
        `${dataDir} holds a simulated fleet of ${saved.fleet.size} EVSEs from seed ${saved.fleet.seed}; ` +
          `${fleetSize} EVSEs from seed ${seed} is another fleet: add --reset to start afresh with it, or leave out --fleet and --seed`,
      );
    }
    const clock = new OffsetClock(saved?.clockOffsetMs ?? 0, options.wall);
    const approvalKey = await sandboxApprovalKey(join(dataDir, "approval-key"));

    let stats: PollStats = newStats();
    const publisher = feedPublisher<ChangeEvent | FleetEvent>((event) => {
      if (isFleetEvent(event)) options.out(fleetEventLine(clock.now(), event));
      else if (event.type === "EVSE Discovered") stats.discovered.push(event);
      else if (event.type === "EVSE Removed") stats.removed.push(event);
      else options.out(changeLine(clock.now(), event));
    });
    const local = await namingPorts(options.ports, () =>
      startLocalEnvironment({
        // The webhook path gets its share of the budget here as in a deployed stage.
        env: { ...options.env, WEBHOOK_BUDGET_SHARE: options.env.WEBHOOK_BUDGET_SHARE ?? "0.1" },
        clock,
        simulator: { port: options.ports.simulator, fleetSize, seed, dynamic: true },
        dynamoPort: options.ports.dynamodb,
        dynamoPath: join(dataDir, "dynamodb"),
        ...(saved ? { restore: saved.fleet } : {}),
      }),
    );
    closers.push(() => local.close());
    const deletions = deletionTarget({
      simulated,
      apiUrl: local.config.EVENERGY_API_URL,
      deleteRealChargers: options.deleteRealChargers,
    });
    const signingSecret = await sandboxWebhookSecret(join(dataDir, "webhook-secret"));
    const webhooks = startWebhookService({
      config: loadWebhookWorkerEnvironment(local.settings),
      secrets: local.secrets,
      documents: local.documents,
      // One device per webhook: each change prints at once, marked as the webhook's.
      publisher: feedPublisher<ChangeEvent>((event) => options.out(changeLine(clock.now(), event))),
      clock: local.clock,
      random: systemRandom,
      logger,
      signingSecret,
      immediate: options.timers,
    });
    const decommission = await namingPorts(options.ports, () =>
      startDecommissionService({
        documents: local.documents,
        tableName: local.config.TABLE_NAME,
        publisher: feedPublisher<DecommissionEvent>((event) =>
          options.out(
            `${time(event.detectedAt)}  ${event.type.padEnd(26)} ${event.evseId} ${event.requestId}`,
          ),
        ),
        clock: local.clock,
        random: systemRandom,
        logger,
        writeSecrets: local.secrets,
        apiUrl: local.config.EVENERGY_API_URL,
        tokenUrl: local.config.EVENERGY_TOKEN_URL,
        port: options.ports.api,
        approvalKey,
        executes: deletions.executes,
        timers: options.timers ? { queueEveryMs: 1_000, reconcileEveryMs: 30_000 } : false,
        webhooks: webhooks.receive,
      }),
    );
    closers.push(() => decommission.close());
    // The simulated ev.energy signs and sends its webhooks to the sandbox's endpoint.
    const sender = local.simulator
      ? new SimWebhookSender({
          fleet: local.simulator.fleet,
          clock,
          url: `${decommission.url}${WEBHOOK_PATH}`,
          secret: signingSecret,
          random: systemRandom,
          ...(options.wall ? { wall: options.wall } : {}),
          apiBaseUrl: local.simulator.apiBaseUrl,
        })
      : undefined;
    if (sender) local.simulator?.attachWebhooks(sender);
    /** The simulator's charging starts and stops so far, sent; then the queue, worked off. */
    const webhookTick = async () => {
      local.simulator?.advance(0);
      await sender?.flush();
      await webhooks.queue.deliverDue();
    };
    if (options.timers && sender) {
      let ticking = false;
      const timer = setInterval(() => {
        // Time moves on every second, even while the last second's webhooks are still out.
        local.simulator?.advance(options.simulatedMsPerSecond ?? 0);
        if (ticking) return;
        ticking = true;
        webhookTick()
          .catch((error: unknown) => logger.error("webhook tick failed", { error: String(error) }))
          .finally(() => {
            ticking = false;
          });
      }, 1_000);
      closers.push(async () => clearInterval(timer));
    }
    await lock.describe({ api: decommission.url });
    const poller = local.createPoller(publisher, logger);

    const save = async () => {
      if (!local.simulator) return;
      await saveSimulation(dataDir, {
        version: 1,
        clockOffsetMs: clock.offsetMs,
        savedAt: clock.now(),
        fleet: local.simulator.fleet.snapshot(),
      });
    };
    // Saved before anything reads the clock, so simulated time never goes back from here.
    await save();

    return {
      local,
      clock,
      decommission,
      simulated,
      fleetSize,
      seed,
      /** What `npm start` prints first: where everything listens. */
      banner(): string[] {
        const where = local.simulator
          ? `  simulated ev.energy  ${local.simulator.apiBaseUrl}  (controls: ${local.simulator.origin}/_sim/stats; client ${SIMULATOR_DEFAULTS.clientId} / ${SIMULATOR_DEFAULTS.clientSecret}; ${fleetSize} EVSEs, seed ${seed})`
          : `  ev.energy            ${local.config.EVENERGY_API_URL}`;
        return [
          where,
          `  embedded DynamoDB    ${local.dynamoEndpoint}  (table ${local.config.TABLE_NAME}, data in ${join(dataDir, "dynamodb")})`,
          `  decommission API     ${decommission.url}  (caller from the X-Principal header: local only; approvers: sessions of ${SANDBOX_APPROVER_ROLES.join(", ")})`,
          `  decommissions        ${deletions.banner}`,
          `  webhooks             POST ${decommission.url}${WEBHOOK_PATH}  (${
            sender ? "the simulator sends signed sub-session webhooks here" : "Svix-signed"
          }; signing secret in ${join(dataDir, "webhook-secret")})`,
        ];
      },
      /** The webhook path: the simulator's sender (undefined when not simulated), the queue. */
      webhooks: { sender, queue: webhooks.queue, signingSecret, tick: webhookTick },
      /** Moves simulated time (and the simulated fleet with it). */
      advance(ms: number): void {
        local.simulator?.advance(ms);
      },
      /**
       * One poll run: changes print as they are detected; discoveries and removals are counted
       * and listed after it (a count when there are many), then the run's summary line.
       */
      async poll(runId: string): Promise<PollSummary> {
        await save();
        stats = newStats();
        const summary = await poller.poll({ runId, timeLimitMs: 60_000 });
        for (const [events, verb] of [
          [stats.discovered, "discovered"],
          [stats.removed, "removed"],
        ] as const) {
          if (events.length > MAX_LISTED) {
            const type = events[0]?.type ?? "";
            options.out(
              `${time(clock.now())}  ${type.padEnd(26)} ${events.length} EVSEs ${verb} (GET /evses on the decommission API lists them)`,
            );
          } else {
            for (const event of events) options.out(changeLine(clock.now(), event));
          }
        }
        options.out(summaryLine(summary));
        if (summary.snapshot) options.out(`── fleet: ${fleetSummaryLine(summary.snapshot)}`);
        await save();
        return summary;
      },
      save,
      async close(): Promise<void> {
        await save().catch((error: unknown) =>
          logger.error("sandbox state not saved", { error: String(error) }),
        );
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

interface PollStats {
  discovered: ChangeEvent[];
  removed: ChangeEvent[];
}

function newStats(): PollStats {
  return { discovered: [], removed: [] };
}

function time(at: number | string): string {
  return new Date(at).toISOString().slice(11, 19);
}

export function changeLine(now: number, event: ChangeEvent): string {
  const what =
    event.type === "EVSE Status Changed"
      ? (event.changedFields ?? [])
          .map((change) => `${change.field} ${String(change.previous)} → ${String(change.current)}`)
          .join(", ")
      : event.type === "EVSE Connectivity Changed"
        ? `${event.previous?.connectivity} → ${event.current.connectivity}`
        : "";
  // Which path saw it first: the poll's sweep, or a webhook's refresh of the one device.
  return `${time(now)}  ${event.type.padEnd(26)} ${event.evseId} ${event.cpid ?? ""}  ${what}  (${event.observedBy})`;
}

/** The fleet-wide alert, one line with its counts. */
export function fleetEventLine(now: number, event: FleetEvent): string {
  const counts =
    event.type === "EVSE Fleet Connectivity Degraded"
      ? `${event.newlyOffline} of ${event.activeFleet} EVSEs newly offline this sweep`
      : `${event.offline} offline (${event.baselineOffline} before)`;
  return `${time(now)}  ${event.type}  ${counts}`;
}

export function summaryLine(summary: PollSummary): string {
  const status = pollFailed(summary)
    ? `failed: ${summary.error}`
    : (summary.stoppedBecause ?? "ok");
  return (
    `── poll ${summary.runId}: ${summary.pages} pages, ${summary.requests} requests, ` +
    `${summary.evsesSeen} EVSEs, ${summary.changes} changes, ${summary.writes} writes, ` +
    `sweep ${summary.sweepComplete ? "complete" : "partial"} (${status})`
  );
}

/** A port another program holds becomes one line naming the flag that chose it. */
async function namingPorts<T>(ports: SandboxOptions["ports"], start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const { code, port } = error as { code?: string; port?: number };
    if (code === "EADDRINUSE" || code === "EACCES") {
      const flag =
        port === ports.api
          ? "--api-port"
          : port === ports.simulator
            ? "--simulator-port"
            : port === ports.dynamodb
              ? "--dynamodb-port"
              : "a port flag";
      const why = code === "EADDRINUSE" ? "is in use by another program" : "is not allowed";
      throw new CliError(`port ${port} (${flag}) ${why}: pick another with ${flag} N`);
    }
    throw error;
  }
}

/** Deletes the folder's data, keeping the lock this process holds. */
async function emptyExceptLock(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry !== "lock") await rm(join(dir, entry), { recursive: true, force: true });
  }
}

/** The sandbox's webhook signing secret (`whsec_`, as Svix issues), made once, kept with its data. */
async function sandboxWebhookSecret(path: string): Promise<string> {
  try {
    const secret = (await readFile(path, "utf8")).trim();
    if (secret.startsWith("whsec_")) return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  await writeFile(path, secret, { mode: 0o600 });
  return secret;
}

/** The sandbox's approval-signing key, made once and kept with its data. */
async function sandboxApprovalKey(path: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(path, "utf8")).trim(), "base64");
    if (key.length >= 32) return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32);
  await writeFile(path, key.toString("base64"), { mode: 0o600 });
  return key;
}
