/**
 * One poll run: resume the fleet sweep where the last run stopped, read pages within the
 * rate-limit budget and the time left, and for each page publish every real change before
 * writing it. Plain TypeScript over ports; the Lambda handler and the local CLI call this.
 */

import type {
  Clock,
  DeviceStore,
  EvEnergyApi,
  EventPublisher,
  EvsePage,
  Logger,
  RequestLedger,
  SweepStore,
} from "../ports.js";
import type {
  ChangeEvent,
  ChangeType,
  Detection,
  DetectionSettings,
  DeviceState,
} from "./device-state.js";
import { detectChange, detectRemoval } from "./device-state.js";
import type { Evse } from "./evse.js";
import type { BudgetSettings, SweepCheckpoint } from "./sweep.js";
import { budgetAllows, freshCheckpoint } from "./sweep.js";

export interface PollDependencies {
  api: EvEnergyApi;
  devices: DeviceStore;
  sweeps: SweepStore;
  ledger: RequestLedger;
  publisher: EventPublisher;
  clock: Clock;
  logger: Logger;
  /** Requests sent to ev.energy so far by this process (token exchanges and retries included). */
  requestsSent: () => number;
}

export interface PollSettings extends DetectionSettings {
  budget: BudgetSettings;
  /** Identifies this run as the lease holder. */
  runId: string;
  /** Outlives the function timeout, so a live run never loses its lease. */
  leaseMs: number;
  /** Clock time by which the run must have stopped (Lambda deadline minus a margin). */
  deadline: number;
  /** Time one page needs at worst; no page starts closer to the deadline than this. */
  pageMarginMs: number;
  /** Requests one page read may cost at worst (attempts, a token exchange, a 401 retry). */
  worstCaseRequestsPerPage: number;
  /** Device writes in flight at once. */
  writeConcurrency: number;
}

export type StopReason =
  | "lease-held"
  | "lease-lost"
  | "budget"
  | "time"
  | "rate-limited"
  | "upstream-error"
  | "error";

export interface PollSummary {
  runId: string;
  sweepId: string | null;
  pages: number;
  requests: number;
  evsesSeen: number;
  droppedItems: number;
  changes: number;
  changesByType: Record<ChangeType, number>;
  eventsPublished: number;
  publishFailures: number;
  writes: number;
  heartbeats: number;
  conflicts: number;
  sweepComplete: boolean;
  /** null when the sweep completed (or there was simply nothing more to do). */
  stoppedBecause: StopReason | null;
  error: string | null;
  rateLimitLimit: number | null;
  rateLimitRemaining: number | null;
  ledgerLastHour: number | null;
  durationMs: number;
}

const HOUR_MS = 3_600_000;
const MAX_CONFLICT_RETRIES = 3;

/**
 * 1. Take the lease (another run holds it: stop, saying so) and load the checkpoint.
 * 2. Read the ledger's last hour: with the share and ev.energy's remaining count, the budget.
 * 3. Page by page, while budget and time allow: read the previous states of the page's id range
 *    in one request, detect changes, publish, then write; save the checkpoint (under the lease).
 *    The next page is fetched while the current one is committed.
 * 4. On the sweep's last page: removals for the devices no page listed, then a fresh checkpoint.
 * 5. Release the lease and return a summary whose `stoppedBecause` says why it ended.
 */
export async function runPoll(
  deps: PollDependencies,
  settings: PollSettings,
): Promise<PollSummary> {
  const run = new PollRun(deps, settings);
  return run.execute();
}

class PollRun {
  private readonly startedAt: number;
  private readonly requestsAtStart: number;
  private requestsRecorded = 0;
  private ledgerLastHour = 0;
  private checkpoint: SweepCheckpoint | undefined;
  private rateLimitLimit: number | null = null;
  private readonly summary: PollSummary;

  constructor(
    private readonly deps: PollDependencies,
    private readonly settings: PollSettings,
  ) {
    this.startedAt = deps.clock.now();
    this.requestsAtStart = deps.requestsSent();
    this.summary = {
      runId: settings.runId,
      sweepId: null,
      pages: 0,
      requests: 0,
      evsesSeen: 0,
      droppedItems: 0,
      changes: 0,
      changesByType: {
        "EVSE Discovered": 0,
        "EVSE Status Changed": 0,
        "EVSE Connectivity Changed": 0,
        "EVSE Removed": 0,
      },
      eventsPublished: 0,
      publishFailures: 0,
      writes: 0,
      heartbeats: 0,
      conflicts: 0,
      sweepComplete: false,
      stoppedBecause: null,
      error: null,
      rateLimitLimit: null,
      rateLimitRemaining: null,
      ledgerLastHour: null,
      durationMs: 0,
    };
  }

  async execute(): Promise<PollSummary> {
    const { sweeps, clock } = this.deps;
    const state = await sweeps.acquire(this.settings.runId, clock.now(), this.settings.leaseMs);
    if (!state) return this.finish("lease-held");
    try {
      this.checkpoint = state.checkpoint;
      this.rateLimitLimit = state.rateLimitLimit;
      this.summary.sweepId = state.checkpoint.sweepId;
      if (this.settings.budget.enabled) {
        this.ledgerLastHour = await this.deps.ledger.countSince(clock.now() - HOUR_MS);
        this.summary.ledgerLastHour = this.ledgerLastHour;
      }
      return this.finish(await this.sweep());
    } catch (error) {
      this.summary.error = describe(error);
      return this.finish("error");
    } finally {
      await this.recordRequests().catch((error) =>
        this.deps.logger.error("could not record requests in the ledger", {
          error: describe(error),
        }),
      );
      await sweeps.release(this.settings.runId);
    }
  }

  /** Reads and commits pages until the sweep ends or something says stop. */
  private async sweep(): Promise<StopReason | null> {
    const checkpoint = this.requireCheckpoint();
    const pages = this.deps.api
      .listEvses({
        ...(checkpoint.next ? { resumeFrom: checkpoint.next } : {}),
        deadline: this.settings.deadline,
      })
      [Symbol.asyncIterator]();
    const fetchNext = () => settle(pages.next());

    let stop = this.whyStopBeforePage();
    if (stop) return stop;
    let pending = fetchNext();
    for (;;) {
      const result = await pending;
      if (!result.ok) return this.stopReasonFor(result.error);
      if (result.value.done) return null;
      const page = result.value.value;
      const isLast = page.next === undefined;
      stop = isLast ? null : this.whyStopBeforePage();
      // Overlap: fetch page k+1 while page k is committed.
      if (!isLast && !stop) pending = fetchNext();
      const committed = await this.commitPage(page, isLast);
      if (!committed) return "lease-lost";
      if (isLast) {
        await closeQuietly(pages);
        return (await this.completeSweep()) ? null : "lease-lost";
      }
      if (stop) {
        await closeQuietly(pages);
        return stop;
      }
    }
  }

  private whyStopBeforePage(): StopReason | null {
    const { clock, api } = this.deps;
    if (clock.now() + this.settings.pageMarginMs > this.settings.deadline) return "time";
    const observed = api.rateLimit;
    const seenThisRun = observed !== undefined && observed.observedAt >= this.startedAt;
    const allowed = budgetAllows(this.settings.budget, {
      ledgerLastHour: this.ledgerLastHour,
      spentThisRun: this.deps.requestsSent() - this.requestsAtStart,
      limit: seenThisRun ? observed.limit : this.rateLimitLimit,
      remaining: seenThisRun ? observed.remaining : null,
      cost: this.settings.worstCaseRequestsPerPage,
    });
    return allowed ? null : "budget";
  }

  private stopReasonFor(error: unknown): StopReason {
    this.summary.error = describe(error);
    const name = error instanceof Error ? error.name : "";
    if (name === "RateLimited") return "rate-limited";
    if (name === "EvEnergyUnavailable" || name === "EvEnergyProblem") return "upstream-error";
    return "error";
  }

  /**
   * Reads the page's id range, detects, publishes, writes, and saves the checkpoint.
   * Returns false when the lease was lost (the checkpoint did not move).
   */
  private async commitPage(page: EvsePage, isLast: boolean): Promise<boolean> {
    const { devices, logger, clock } = this.deps;
    const checkpoint = this.requireCheckpoint();
    const evses = uniqueById(page.evses);
    const ascending = evses.every((evse, i) => i === 0 || (evses[i - 1]?.id ?? "") < evse.id);
    const firstId = evses[0]?.id;
    const lastId = evses.at(-1)?.id;
    const followsCheckpoint =
      checkpoint.lastId === null || firstId === undefined || firstId > checkpoint.lastId;
    if (!ascending || !followsCheckpoint) {
      logger.error(
        "ev.energy listed EVSE ids out of ascending order; removals are off this sweep",
        {
          page: page.url,
        },
      );
    }
    const unordered = checkpoint.unordered || !ascending || !followsCheckpoint;

    const rangeStart = checkpoint.lastId ?? undefined;
    const rangeEnd = isLast ? undefined : lastId;
    const stored = unordered
      ? await this.readUnordered(evses)
      : await devices.readRange({
          ...(rangeStart !== undefined ? { afterId: rangeStart } : {}),
          ...(rangeEnd !== undefined ? { throughId: rangeEnd } : {}),
        });
    const previousById = new Map(stored.map((device) => [device.evseId, device]));
    const listed = new Set(evses.map((evse) => evse.id));
    const vanished = stored
      .filter((device) => device.lifecycle === "active" && !listed.has(device.evseId))
      .map((device) => device.evseId);

    const now = clock.now();
    await this.apply(
      evses.map((evse) => ({
        evseId: evse.id,
        previous: previousById.get(evse.id),
        detect: (previous: DeviceState | undefined) =>
          detectChange(previous, evse, now, this.settings),
      })),
    );

    this.summary.pages += 1;
    this.summary.evsesSeen += evses.length;
    this.summary.droppedItems += page.droppedCount;
    const next: SweepCheckpoint = {
      ...checkpoint,
      next: page.next ?? null,
      lastId: lastId ?? checkpoint.lastId,
      pages: checkpoint.pages + 1,
      evsesSeen: checkpoint.evsesSeen + evses.length,
      vanished: [...checkpoint.vanished, ...vanished],
      unordered,
    };
    await this.recordRequests();
    const saved = await this.deps.sweeps.commit(
      this.settings.runId,
      clock.now(),
      next,
      this.deps.api.rateLimit?.limit ?? this.rateLimitLimit,
    );
    if (saved) this.checkpoint = next;
    return saved;
  }

  /** Out-of-order pages can't use one range read; fall back to reading each device. */
  private async readUnordered(evses: Evse[]): Promise<DeviceState[]> {
    const found = await mapLimit(evses, this.settings.writeConcurrency, (evse) =>
      this.deps.devices.get(evse.id),
    );
    return found.filter((device): device is DeviceState => device !== undefined);
  }

  /** The sweep's end: every device no page listed is removed, then a new sweep begins. */
  private async completeSweep(): Promise<boolean> {
    const { clock, devices, logger } = this.deps;
    const checkpoint = this.requireCheckpoint();
    if (checkpoint.unordered) {
      logger.warn("sweep completed with ids out of order; no removals this sweep", {
        sweepId: checkpoint.sweepId,
        vanished: checkpoint.vanished.length,
      });
    } else {
      const now = clock.now();
      await this.apply(
        checkpoint.vanished.map((evseId) => ({
          evseId,
          previous: undefined,
          detect: (previous: DeviceState | undefined) =>
            previous && previous.lifecycle === "active" ? detectRemoval(previous, now) : undefined,
        })),
        (evseId) => devices.get(evseId),
      );
    }
    const now = clock.now();
    const nowIso = new Date(now).toISOString();
    const saved = await this.deps.sweeps.completeSweep(
      this.settings.runId,
      now,
      freshCheckpoint(`${nowIso}/${this.settings.runId}`, nowIso),
    );
    this.summary.sweepComplete = saved;
    return saved;
  }

  /**
   * Publish first, then write, for a batch of devices. A device whose events could not be
   * published is not written, so the next sweep detects (and publishes) the change again. A
   * write that loses a version race re-reads the device and detects again.
   */
  private async apply(
    items: Array<{
      evseId: string;
      previous: DeviceState | undefined;
      detect: (previous: DeviceState | undefined) => Detection | undefined;
    }>,
    initialRead?: (evseId: string) => Promise<DeviceState | undefined>,
  ): Promise<void> {
    const { devices, logger } = this.deps;
    let round = await Promise.all(
      items.map(async (item) => {
        const previous = initialRead ? await initialRead(item.evseId) : item.previous;
        return { ...item, previous, detection: item.detect(previous) };
      }),
    );
    for (let attempt = 0; round.length > 0; attempt += 1) {
      const toWrite = round.filter(
        (item): item is typeof item & { detection: Detection } =>
          item.detection !== undefined && item.detection.write !== "none",
      );
      const published = await this.publish(toWrite.flatMap((item) => item.detection.events));
      const results = await mapLimit(toWrite, this.settings.writeConcurrency, async (item) => {
        if (!item.detection.events.every((event) => published.has(event.eventId))) return undefined;
        const outcome = await devices.put(item.detection.next, item.previous?.version);
        if (outcome === "written") {
          this.countWrite(item.detection);
          return undefined;
        }
        this.summary.conflicts += 1;
        return item;
      });
      const conflicted = results.filter((item) => item !== undefined);
      if (conflicted.length === 0) return;
      if (attempt >= MAX_CONFLICT_RETRIES) {
        logger.warn("devices still contended after retries; the next sweep will catch up", {
          evseIds: conflicted.map((item) => item.evseId),
        });
        return;
      }
      round = await Promise.all(
        conflicted.map(async (item) => {
          const previous = await devices.get(item.evseId);
          return { ...item, previous, detection: item.detect(previous) };
        }),
      );
    }
  }

  /** Publishes and returns the ids that made it; the rest are logged and counted. */
  private async publish(events: ChangeEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const { failed } = await this.deps.publisher.publish(events);
    const failedIds = new Set(failed.map((event) => event.eventId));
    if (failed.length > 0) {
      this.summary.publishFailures += failed.length;
      this.deps.logger.error("events not published; their devices are not written this run", {
        eventIds: [...failedIds],
      });
    }
    const published = new Set<string>();
    for (const event of events) {
      if (failedIds.has(event.eventId)) continue;
      published.add(event.eventId);
      this.summary.eventsPublished += 1;
    }
    return published;
  }

  private countWrite(detection: Detection) {
    this.summary.writes += 1;
    if (detection.write === "heartbeat") this.summary.heartbeats += 1;
    for (const event of detection.events) {
      this.summary.changes += 1;
      this.summary.changesByType[event.type] += 1;
    }
  }

  /** Adds the requests sent since the last record to the ledger. */
  private async recordRequests() {
    const sent = this.deps.requestsSent() - this.requestsAtStart;
    const unrecorded = sent - this.requestsRecorded;
    if (unrecorded <= 0) return;
    await this.deps.ledger.record(unrecorded, this.deps.clock.now());
    this.requestsRecorded = sent;
  }

  private requireCheckpoint(): SweepCheckpoint {
    if (!this.checkpoint) throw new Error("poll run has no checkpoint: the lease was not taken");
    return this.checkpoint;
  }

  private finish(stoppedBecause: StopReason | null): PollSummary {
    const { api, clock } = this.deps;
    this.summary.stoppedBecause = stoppedBecause;
    this.summary.requests = this.deps.requestsSent() - this.requestsAtStart;
    this.summary.rateLimitLimit = api.rateLimit?.limit ?? this.rateLimitLimit;
    this.summary.rateLimitRemaining = api.rateLimit?.remaining ?? null;
    this.summary.durationMs = clock.now() - this.startedAt;
    return this.summary;
  }
}

/** Ends the page iterator early (its in-flight prefetch, if any, is simply dropped). */
async function closeQuietly(pages: AsyncIterator<EvsePage>) {
  await pages.return?.().catch(() => undefined);
}

function uniqueById(evses: Evse[]): Evse[] {
  const seen = new Set<string>();
  return evses.filter((evse) => !seen.has(evse.id) && seen.add(evse.id));
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A promise that never rejects, so a prefetch can fail while the current page commits. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
