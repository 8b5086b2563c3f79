/**
 * The small interfaces the core and the adapters depend on. Tests hand in fakes or local
 * adapters through these; nothing is module-mocked.
 */
import type { WriteRecords } from "./core/device-history.js";
import type { ChangeEvent, DeviceState } from "./core/device-state.js";
import type { Evse } from "./core/evse.js";
import type { FleetSnapshot } from "./core/fleet-snapshot.js";
import type { SweepCheckpoint, SweepState } from "./core/sweep.js";

/** Wall-clock time and waiting, injected so tests never sleep for real. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` of this clock's time. */
  sleep(ms: number): Promise<void>;
}

/** A uniform number in [0, 1), injected so jitter is reproducible in tests. */
export type Random = () => number;

/** The subset of Powertools' Logger the code uses; tests capture lines through it. */
export interface Logger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Where the ev.energy credentials come from: the raw secret string (JSON). */
export interface SecretSource {
  /** Reads the secret; `fresh` bypasses any cache (used after a 401). */
  read(options?: { fresh?: boolean }): Promise<string>;
}

/** What the client has learned of ev.energy's rate limit from the last response. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Clock time the headers were read. */
  observedAt: number;
}

/** Called once per HTTP request sent to ev.energy (token exchanges included), for the ledger. */
export type RequestObserver = (request: {
  kind: "api" | "token";
  method: string;
  status: number | "network-error" | "timeout";
  at: number;
}) => void;

export interface CallOptions {
  /** Clock time after which no retry or wait may start. */
  deadline?: number;
  /** `false` turns off retries for this call (callers that own their retries). Default true. */
  retries?: boolean;
  /**
   * Hears each request this call sends to the API, retries included; not the token exchanges,
   * which concurrent calls share. For callers that account for their own calls' requests.
   */
  onRequest?: RequestObserver;
}

export interface ListOptions extends CallOptions {
  /** Resume a sweep at a saved `next` link instead of the collection's first page. */
  resumeFrom?: string;
}

export interface EvsePage {
  evses: Evse[];
  /** Items without a valid id: dropped, counted and logged. */
  droppedCount: number;
  /** The URL this page was read from. */
  url: string;
  /** The `next` link, or undefined at the end of the collection. */
  next: string | undefined;
}

export type EvseLookup = { status: "found"; evse: Evse } | EvseNotFound;
export type DeleteOutcome = { status: "deleted" } | EvseNotFound;
/** A 404 from ev.energy: a distinct outcome, not an error. */
export interface EvseNotFound {
  status: "not-found";
  evseId: string;
}

/** The part of the ev.energy v2 API this project uses. */
export interface EvEnergyApi {
  listEvses(options?: ListOptions): AsyncIterable<EvsePage>;
  getEvse(id: string, options?: CallOptions): Promise<EvseLookup>;
  deleteEvse(id: string, options?: CallOptions): Promise<DeleteOutcome>;
  /** The rate limit as of the last response, if any response carried it. */
  readonly rateLimit: RateLimitState | undefined;
}

/** Last-seen device state: the table's device items. */
export interface DeviceStore {
  /**
   * The stored devices whose ids lie in (afterId, throughId], in ascending order, in one
   * request (more only if the range outgrows one DynamoDB page). `afterId` undefined: from the
   * first; `throughId` undefined: to the last.
   */
  readRange(range: { afterId?: string; throughId?: string }): Promise<DeviceState[]>;
  /**
   * Up to `limit` stored devices after `afterId` (from the first when undefined), in one
   * request; `exhausted` when no stored device follows the last one returned. The poll reads the
   * next page's range this way while the page itself is still being fetched.
   */
  readAfter(
    afterId: string | undefined,
    limit: number,
  ): Promise<{ devices: DeviceState[]; exhausted: boolean }>;
  get(evseId: string): Promise<DeviceState | undefined>;
  /**
   * Writes `state` only if the stored version is still `expectedVersion` (absent for a device
   * never stored) and, when given, its `lastSeenAt` still `expectedLastSeenAt` (the webhook path
   * gives it: the poll's heartbeats move a newer sample in without a new version). "conflict"
   * means another writer got there first: re-read, never overwrite.
   */
  put(
    state: DeviceState,
    expectedVersion: number | undefined,
    expectedLastSeenAt?: string,
  ): Promise<"written" | "conflict">;
}

/**
 * An event for the bus: `type` becomes the detail-type, everything else the `detail`. The id is
 * derived from what happened, so a re-published event keeps its id and consumers dedupe on it.
 */
export interface BusEvent {
  eventId: string;
  type: string;
  detectedAt: string;
}

/** Publishes events; resends failed entries and reports what still failed. */
export interface EventPublisher<E extends BusEvent = ChangeEvent> {
  publish(events: readonly E[]): Promise<{ failed: E[] }>;
}

/** The poll's lease and checkpoint (one item, so checkpoints are written only under the lease). */
export interface SweepStore {
  /** Takes the lease until `now + leaseMs`; undefined when another run holds it. */
  acquire(owner: string, now: number, leaseMs: number): Promise<SweepState | undefined>;
  /** Saves the checkpoint if `owner` still holds an unexpired lease; false otherwise. */
  commit(
    owner: string,
    now: number,
    checkpoint: SweepCheckpoint,
    rateLimitLimit: number | null,
  ): Promise<boolean>;
  /** Records a completed sweep and starts `next`, under the lease. */
  completeSweep(owner: string, now: number, next: SweepCheckpoint): Promise<boolean>;
  release(owner: string): Promise<void>;
}

/** Every request sent to ev.energy, counted per minute, so each rolling hour stays in budget. */
export interface RequestLedger {
  record(count: number, at: number): Promise<void>;
  countSince(from: number): Promise<number>;
}

/** What the poll keeps for fleet health: per-device history and monthly rollups, the snapshot. */
export interface FleetHealthStore {
  /**
   * Writes the records of the device write that stores `state`: each history entry (keyed by
   * the change, so writing it again changes nothing) and the rollup update (transitions
   * appended: a repeat appends the same transition again, which changes no figure).
   */
  record(state: DeviceState, records: WriteRecords): Promise<void>;
  /** Replaces the latest fleet snapshot. */
  putSnapshot(snapshot: FleetSnapshot): Promise<void>;
}

/**
 * The operators' switch for the scheduled poll (data, not the schedule's state, so a deploy
 * never flips it): while it says paused, a run reads nothing and writes nothing.
 */
export interface PollSwitch {
  isPaused(): Promise<boolean>;
}
