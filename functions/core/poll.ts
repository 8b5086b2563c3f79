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
  PollSwitch,
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
import { detectChange, detectRemoval, observedSince } from "./device-state.js";
import type { Evse } from "./evse.js";
import type { FleetEvent } from "./fleet-alert.js";
import type { FleetHealth } from "./fleet-health.js";
import type { FleetSnapshot } from "./fleet-snapshot.js";
import type { BudgetSettings, PendingWrite, SweepCheckpoint } from "./sweep.js";
import { budgetAllows, freshCheckpoint } from "./sweep.js";

export interface PollDependencies {
  api: EvEnergyApi;
  devices: DeviceStore;
  sweeps: SweepStore;
  ledger: RequestLedger;
  /** The operators' switch: a paused poll stops before anything else. */
  pause: PollSwitch;
  publisher: EventPublisher<ChangeEvent | FleetEvent>;
  clock: Clock;
  logger: Logger;
  /** Requests sent to ev.energy so far by this process (token exchanges and retries included). */
  requestsSent: () => number;
  /** History, rollups, the fleet snapshot and the fleet-wide alert; absent: none kept. */
  health?: FleetHealth;
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
  /** The operators' poll switch is on (a new deployment starts so): nothing was read. */
  | "paused"
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
  /**
   * Status changes this run published with charging starting (isCharging to true): changes
   * the webhook path should have seen first; the webhook-silence alarm compares them.
   */
  chargingStarts: number;
  /**
   * For each change the webhook path published first and this run's poll then read: how long
   * after the webhook path the poll got to it (milliseconds), the webhook path's lead.
   */
  webhookLeadsMs: number[];
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
  /** The snapshot of the sweep this run completed; null when it completed none. */
  snapshot: FleetSnapshot | null;
  /** Fleet-wide events published (degraded, restored). */
  fleetEvents: number;
  /** Whether the fleet is degraded as this run leaves it; null when unknown (no lease). */
  fleetDegraded: boolean | null;
}

const HOUR_MS = 3_600_000;
/** ev.energy's largest page, which the client always asks for. */
const PAGE_SIZE = 100;
/** Stored devices read ahead beyond a page's worth, for devices that vanished in its range. */
const VANISHED_SLACK = 10;
const MAX_CONFLICT_RETRIES = 3;

/**
 * 0. Read the poll switch (through its cache): paused, stop at once, saying so. Nothing is
 *    read from ev.energy (nor its secret), and no lease, checkpoint or ledger is touched.
 * 1. Take the lease (another run holds it: stop, saying so) and load the checkpoint; finish
 *    the writes a dead run left pending in it.
 * 2. Read the ledger's last hour: with the share and ev.energy's remaining count, the budget.
 * 3. Page by page, while budget and time allow: read the previous states of the page's id range
 *    in one request, detect changes, publish them, save the checkpoint with the page's writes
 *    (under the lease), then write, while the next page is already being fetched.
 * 4. After the sweep's last page: removals for the devices no page listed, then a fresh
 *    checkpoint for the next sweep.
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
  /** The previous page's device writes, running while the next page is fetched. */
  private writing: Promise<void> = Promise.resolve();
  /** Ledger records in flight, chained. */
  private ledgerWrites: Promise<void> = Promise.resolve();
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
      chargingStarts: 0,
      webhookLeadsMs: [],
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
      snapshot: null,
      fleetEvents: 0,
      fleetDegraded: null,
    };
  }

  async execute(): Promise<PollSummary> {
    const { sweeps, clock } = this.deps;
    try {
      if (await this.deps.pause.isPaused()) return this.finish("paused");
    } catch (error) {
      // A switch that cannot be read is a fault: the run ends as an error (and alarms).
      this.summary.error = describe(error);
      return this.finish("error");
    }
    const state = await sweeps.acquire(this.settings.runId, clock.now(), this.settings.leaseMs);
    if (!state) return this.finish("lease-held");
    try {
      this.checkpoint = state.checkpoint;
      this.rateLimitLimit = state.rateLimitLimit;
      this.summary.sweepId = state.checkpoint.sweepId;
      await this.write(state.checkpoint.pending);
      if (this.settings.budget.enabled) {
        this.ledgerLastHour = await this.deps.ledger.countSince(clock.now() - HOUR_MS);
        this.summary.ledgerLastHour = this.ledgerLastHour;
      }
      const stop = state.checkpoint.listingComplete ? null : await this.sweep();
      await this.writing;
      if (stop !== null) return this.finish(stop);
      return this.finish((await this.completeSweep()) ? null : "lease-lost");
    } catch (error) {
      this.summary.error = describe(error);
      return this.finish("error");
    } finally {
      await this.writing.catch(() => undefined);
      await this.recordRequests();
      await sweeps.release(this.settings.runId);
    }
  }

  /**
   * Reads and commits pages until the listing ends (null) or something says stop. Page k+1 is
   * fetched only once page k's checkpoint is saved, so a run that dies leaves at most the page
   * in flight to be read again.
   */
  private async sweep(): Promise<StopReason | null> {
    const checkpoint = this.requireCheckpoint();
    const pages = this.deps.api
      .listEvses({
        ...(checkpoint.next ? { resumeFrom: checkpoint.next } : {}),
        deadline: this.settings.deadline,
      })
      [Symbol.asyncIterator]();
    // The stored devices after the last committed id are read while the page is fetched: with
    // ascending ids they are the page's previous states (see previousStates).
    const fetchNext = () => {
      const after = this.requireCheckpoint().lastId ?? undefined;
      return {
        page: settle(pages.next()),
        stored: settle(this.deps.devices.readAfter(after, PAGE_SIZE + VANISHED_SLACK)),
      };
    };

    const stop = this.whyStopBeforePage();
    if (stop) return stop;
    let inFlight = fetchNext();
    for (;;) {
      const result = await inFlight.page;
      if (!result.ok) return this.stopReasonFor(result.error);
      if (result.value.done) return null;
      const page = result.value.value;
      const isLast = page.next === undefined;
      const writes = await this.commitPage(page, isLast, await inFlight.stored);
      if (!writes) return "lease-lost";
      const stopNow = isLast ? null : this.whyStopBeforePage();
      this.writing = this.write(writes);
      if (!isLast && !stopNow) inFlight = fetchNext();
      if (isLast || stopNow) {
        await closeQuietly(pages);
        return stopNow;
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
   * Reads the page's id range, detects, publishes, and saves the checkpoint with the writes
   * still to do. Returns those writes, or undefined when the lease was lost (nothing moved).
   */
  private async commitPage(
    page: EvsePage,
    isLast: boolean,
    readAhead: Settled<{ devices: DeviceState[]; exhausted: boolean }>,
  ): Promise<PendingWrite[] | undefined> {
    const { logger, clock } = this.deps;
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
    const pageInOrder = ascending && followsCheckpoint;
    const unordered = checkpoint.unordered || !pageInOrder;

    // The range read covers a page in order even after an earlier page was not; only the
    // removals (decided at the sweep's end) stay off for the whole sweep.
    const stored = !pageInOrder
      ? await this.readEach(evses.map((evse) => evse.id))
      : await this.previousStates(readAhead, isLast ? undefined : lastId);
    const previousById = new Map(stored.map((device) => [device.evseId, device]));
    const listed = new Set(evses.map((evse) => evse.id));
    const vanished = stored
      .filter((device) => device.lifecycle === "active" && !listed.has(device.evseId))
      .map((device) => device.evseId);

    const now = clock.now();
    const items = evses.map((evse) => {
      const previous = previousById.get(evse.id);
      return {
        previous,
        listed: evse,
        detection: detectChange(previous, evse, now, this.settings),
      };
    });
    const unlisted = stored.filter((device) => !listed.has(device.evseId));
    const writes = await this.publishAndPlan([
      ...items,
      ...(this.deps.health?.decommissionsIn(unlisted, now) ?? []),
    ]);
    const fleet = await this.fleetAfterPage(checkpoint, items, unlisted, now);

    this.summary.pages += 1;
    this.summary.evsesSeen += evses.length;
    this.summary.droppedItems += page.droppedCount;
    await this.writing;
    const saved = await this.saveCheckpoint({
      ...checkpoint,
      next: page.next ?? null,
      lastId: lastId ?? checkpoint.lastId,
      pages: checkpoint.pages + 1,
      evsesSeen: checkpoint.evsesSeen + evses.length,
      vanished: [...checkpoint.vanished, ...vanished],
      unordered,
      listingComplete: isLast,
      pending: writes,
      fleet,
    });
    return saved ? writes : undefined;
  }

  /**
   * The stored devices in the page's id range (last committed id, `throughId`], from the read
   * made while the page was fetched; only a range holding more stored devices than that read's
   * limit (many vanished at once) costs a second request for the rest.
   */
  private async previousStates(
    readAhead: Settled<{ devices: DeviceState[]; exhausted: boolean }>,
    throughId: string | undefined,
  ): Promise<DeviceState[]> {
    if (!readAhead.ok) throw readAhead.error;
    const { devices, exhausted } = readAhead.value;
    const inRange = (device: DeviceState) => throughId === undefined || device.evseId <= throughId;
    const lastRead = devices.at(-1)?.evseId;
    if (exhausted || lastRead === undefined || (throughId !== undefined && lastRead >= throughId)) {
      return devices.filter(inRange);
    }
    const rest = await this.deps.devices.readRange({
      afterId: lastRead,
      ...(throughId !== undefined ? { throughId } : {}),
    });
    return [...devices, ...rest];
  }

  /** Out-of-order pages can't use one range read; fall back to reading each device. */
  private async readEach(ids: string[]): Promise<DeviceState[]> {
    const found = await mapLimit(ids, this.settings.writeConcurrency, (id) =>
      this.deps.devices.get(id),
    );
    return found.filter((device): device is DeviceState => device !== undefined);
  }

  /** The sweep's end: every device no page listed is removed, then a new sweep begins. */
  private async completeSweep(): Promise<boolean> {
    const { clock, logger } = this.deps;
    const checkpoint = this.requireCheckpoint();
    let writes: PendingWrite[] = [];
    if (checkpoint.unordered) {
      logger.warn("sweep completed with ids out of order; no removals this sweep", {
        sweepId: checkpoint.sweepId,
        vanished: checkpoint.vanished.length,
      });
    } else if (checkpoint.vanished.length > 0) {
      const now = clock.now();
      const stored = await this.readEach(checkpoint.vanished);
      writes = await this.publishAndPlan(
        stored.map((previous) => ({ previous, listed: null, detection: removalOf(previous, now) })),
      );
    }
    const fleet = await this.closeFleetSweep(checkpoint);
    const nowIso = new Date(clock.now()).toISOString();
    const next = freshCheckpoint(`${nowIso}/${this.settings.runId}`, nowIso);
    const saved = await this.deps.sweeps.completeSweep(this.settings.runId, clock.now(), {
      ...next,
      pending: writes,
      fleet,
    });
    if (!saved) return false;
    this.checkpoint = { ...next, pending: writes, fleet };
    this.summary.sweepComplete = true;
    await this.write(writes);
    return true;
  }

  /**
   * Publishes the detected changes and returns the writes to make. A device whose events could
   * not be published is not written, so the next sweep detects (and publishes) it again.
   */
  private async publishAndPlan(
    items: Array<{
      previous: DeviceState | undefined;
      listed: Evse | null;
      detection: Detection | undefined;
      records?: PendingWrite["records"];
    }>,
  ): Promise<PendingWrite[]> {
    const now = this.deps.clock.now();
    const toWrite = items.filter(
      (item): item is typeof item & { detection: Detection } =>
        item.detection !== undefined && item.detection.write !== "none",
    );
    const published = await this.publish(toWrite.flatMap((item) => item.detection.events));
    return toWrite
      .filter((item) => item.detection.events.every((event) => published.has(event.eventId)))
      .map((item) => ({
        state: item.detection.next,
        expectedVersion: item.previous?.version ?? null,
        expectedLastSeenAt: item.previous?.lastSeenAt,
        listed: item.listed,
        records: item.records ?? this.deps.health?.recordsFor(item.previous, item.detection, now),
        webhookLeadMs: item.detection.webhookLeadMs,
      }));
  }

  /**
   * Makes the writes, each conditional on the version it was derived from. One that loses a
   * race re-reads the device, detects again, publishes what is new, and tries again.
   */
  private async write(writes: readonly PendingWrite[]): Promise<void> {
    const { devices, logger, clock } = this.deps;
    let round = [...writes];
    for (let attempt = 0; round.length > 0; attempt += 1) {
      const results = await mapLimit(round, this.settings.writeConcurrency, async (write) => {
        // History and rollups ride along: the checkpoint keeps this write until both have landed
        // (the next checkpoint waits for them), so a run that dies writes them again.
        const [outcome] = await Promise.all([
          devices.put(write.state, write.expectedVersion ?? undefined, write.expectedLastSeenAt),
          write.records && this.deps.health?.record(write.state, write.records),
        ]);
        if (outcome === "written") {
          this.summary.writes += 1;
          if (write.state.version === write.expectedVersion) this.summary.heartbeats += 1;
          // Counted once it is written: the write clears the mark it was measured from.
          if (write.webhookLeadMs !== undefined)
            this.summary.webhookLeadsMs.push(write.webhookLeadMs);
          return undefined;
        }
        this.summary.conflicts += 1;
        return write;
      });
      const conflicted = results.filter((write) => write !== undefined);
      if (conflicted.length === 0) return;
      if (attempt >= MAX_CONFLICT_RETRIES) {
        logger.warn("devices still contended after retries; the next sweep will catch up", {
          evseIds: conflicted.map((write) => write.state.evseId),
        });
        return;
      }
      const now = clock.now();
      const fresh = await mapLimit(conflicted, this.settings.writeConcurrency, async (write) => {
        const previous = await devices.get(write.state.evseId);
        // A writer with a newer observation (a webhook refresh) came first: this page's view of
        // the device is older, and nothing in it may be written over that (the next sweep reads
        // it afresh). A change already published from it keeps its id: the version did not move.
        if (write.listed && observedSince(previous, write.listed)) {
          return { previous, listed: write.listed, detection: undefined };
        }
        const detection = write.listed
          ? detectChange(previous, write.listed, now, this.settings)
          : previous && removalOf(previous, now);
        return { previous, listed: write.listed, detection };
      });
      round = await this.publishAndPlan(fresh);
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
      this.summary.changes += 1;
      this.summary.changesByType[event.type] += 1;
      if (startsCharging(event)) this.summary.chargingStarts += 1;
    }
    return published;
  }

  /**
   * Saves the checkpoint under the lease. The ledger record follows it rather than racing it,
   * so the one write the next page waits for has the table to itself.
   */
  private async saveCheckpoint(next: SweepCheckpoint): Promise<boolean> {
    const saved = await this.deps.sweeps.commit(
      this.settings.runId,
      this.deps.clock.now(),
      next,
      this.deps.api.rateLimit?.limit ?? this.rateLimitLimit,
    );
    this.recordRequests();
    if (saved) this.checkpoint = next;
    return saved;
  }

  /**
   * Adds the requests sent since the last record to the ledger, off the page's critical path:
   * records are chained, so they land in order, and the run awaits the chain before it ends.
   */
  private recordRequests(): Promise<void> {
    const sent = this.deps.requestsSent() - this.requestsAtStart;
    const unrecorded = sent - this.requestsRecorded;
    if (unrecorded > 0) {
      this.requestsRecorded = sent;
      const at = this.deps.clock.now();
      this.ledgerWrites = this.ledgerWrites.then(() =>
        this.deps.ledger.record(unrecorded, at).catch((error: unknown) =>
          this.deps.logger.error("could not record requests in the ledger", {
            requests: unrecorded,
            error: describe(error),
          }),
        ),
      );
    }
    return this.ledgerWrites;
  }

  /**
   * The fleet progress with this page counted. When the count of newly offline devices crosses
   * the threshold, the degraded event is published first; the degradation is recorded either
   * way, with the event kept as unpublished when it did not make it (each later page and sweep
   * tries again, under the same id).
   */
  private async fleetAfterPage(
    checkpoint: SweepCheckpoint,
    items: Parameters<FleetHealth["afterPage"]>[2]["items"],
    unlisted: DeviceState[],
    now: number,
  ): Promise<SweepCheckpoint["fleet"]> {
    const health = this.deps.health;
    if (!health) return checkpoint.fleet;
    const run = { ...checkpoint, runId: this.settings.runId };
    const { progress, alert } = health.afterPage(checkpoint.fleet, run, { items, unlisted }, now);
    if (!alert) return this.republishDegraded(progress);
    if (await this.publishFleet(alert.event)) return alert.progress;
    const degraded = alert.progress.degraded;
    return degraded
      ? { ...alert.progress, degraded: { ...degraded, unpublished: alert.event } }
      : alert.progress;
  }

  /** Publishes a degraded event an earlier page or run could not; keeps it while that fails. */
  private async republishDegraded<P extends SweepCheckpoint["fleet"]>(progress: P): Promise<P> {
    const degraded = progress?.degraded;
    if (!progress || !degraded?.unpublished) return progress;
    if (!(await this.publishFleet(degraded.unpublished))) return progress;
    const { unpublished: _published, ...recorded } = degraded;
    return { ...progress, degraded: recorded };
  }

  /**
   * A complete sweep's fleet snapshot (kept before the completion is saved) and the restored
   * event it may call for; returns the fleet progress the next sweep starts from.
   */
  private async closeFleetSweep(checkpoint: SweepCheckpoint): Promise<SweepCheckpoint["fleet"]> {
    const health = this.deps.health;
    if (!health) return undefined;
    const fleet = await this.republishDegraded(checkpoint.fleet);
    const closing = health.closeSweep(fleet, checkpoint, this.deps.clock.now());
    const published = closing.restored ? await this.publishFleet(closing.restored) : false;
    const { snapshot, progress } = closing.next(published);
    await health.saveSnapshot(snapshot);
    this.summary.snapshot = snapshot;
    return progress;
  }

  /** Publishes one fleet-wide event; false (logged) when it did not make it. */
  private async publishFleet(event: FleetEvent): Promise<boolean> {
    const { failed } = await this.deps.publisher.publish([event]);
    if (failed.length > 0) {
      this.summary.publishFailures += 1;
      this.deps.logger.error("fleet event not published; the next page or sweep tries again", {
        type: event.type,
        eventId: event.eventId,
      });
      return false;
    }
    this.summary.fleetEvents += 1;
    this.deps.logger.warn(event.type, { ...event });
    return true;
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
    if (this.checkpoint && this.deps.health) {
      this.summary.fleetDegraded = (this.checkpoint.fleet?.degraded ?? null) !== null;
    }
    return this.summary;
  }
}

function startsCharging(event: ChangeEvent): boolean {
  return (
    event.changedFields?.some(
      (change) => change.field === "isCharging" && change.current === true,
    ) ?? false
  );
}

/** A removal applies only to a device still active; one already gone needs nothing. */
function removalOf(previous: DeviceState | undefined, now: number): Detection | undefined {
  return previous?.lifecycle === "active" ? detectRemoval(previous, now) : undefined;
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
