/**
 * The small interfaces the core and the adapters depend on. Tests hand in fakes or local
 * adapters through these; nothing is module-mocked.
 */
import type { Evse } from "./core/evse.js";

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
  debug(message: string, ...extra: object[]): void;
  info(message: string, ...extra: object[]): void;
  warn(message: string, ...extra: object[]): void;
  error(message: string, ...extra: object[]): void;
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
