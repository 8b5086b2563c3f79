import type { FleetSnapshot } from "./fleet.js";

/**
 * The contract of the simulated ev.energy: what tests, the sandbox and the benchmark may rely
 * on. The server lives in `server.ts`, the fleet in `fleet.ts`; `index.ts` exports
 * `startSimulator`.
 */

/** Something that tells the simulator's time; `ManualClock` and `OffsetClock` both fit. */
export interface SimClock {
  now(): number;
  advance(ms: number): void;
}

export interface SimClient {
  clientId: string;
  clientSecret: string;
  /** Scopes this client may be granted, e.g. ["evse:read", "evse:write"]. */
  scopes: string[];
  /**
   * Which fleet the client's tokens see. "main" is the simulated fleet; "empty" is a
   * different ev.energy account that owns nothing (every EVSE answers 404).
   */
  account?: "main" | "empty";
}

export interface SimStaticToken {
  token: string;
  scopes: string[];
  account?: "main" | "empty";
}

export interface SimulatorOptions {
  /** 0 (default) picks a free port. Always binds 127.0.0.1. */
  port?: number;
  /** Number of EVSEs at start. Default 200. */
  fleetSize?: number;
  /** Seed for the fleet, its dynamics and fault rates. Default 1. */
  seed?: number;
  /** Default: an OffsetClock (real time, moved forward by `advance`). */
  clock?: SimClock;
  /** Default: one client `sandbox-client` / `sandbox-secret` with read and write scopes. */
  clients?: SimClient[];
  /** Pre-issued bearer tokens (never expire). Default: `sandbox-token` with read and write. */
  staticTokens?: SimStaticToken[];
  /** Requests per rolling hour per OAuth client (or static token). Default 1000. */
  rateLimit?: number;
  /** Lifetime of exchanged tokens. Default 36000 (10 hours, as ev.energy). */
  tokenTtlSeconds?: number;
  /**
   * When true, `advance` and the passage of simulated time evolve the fleet (plug in/out,
   * charging start/stop, rate changes, silence and return, lock mode, appear/disappear).
   * Default false: the fleet changes only when a test changes it.
   */
  dynamic?: boolean;
  faults?: Faults;
  /** Go on from a saved fleet (`fleet.snapshot()`) of the same seed and size. */
  restore?: FleetSnapshot;
}

/** Switchable faults. Rates are fractions in [0, 1], drawn from the seeded generator. */
export interface Faults {
  /** Added to every response, in real milliseconds. */
  latencyMs?: number;
  /** Fraction of API requests answered 500/502/503 with a problem body. */
  serverErrorRate?: number;
  /** Fraction of requests that never get an answer (the client's timeout must fire). */
  timeoutRate?: number;
  /** Fraction of requests whose socket is destroyed without an answer. */
  resetRate?: number;
  /** Fraction of list/get requests answered 200 with a truncated JSON body. */
  malformedJsonRate?: number;
  /** The next `count` requests get 429 with `Retry-After: retryAfterSeconds`. */
  rateLimitBurst?: { count: number; retryAfterSeconds: number };
  /** Tamper with the next `next` link: repeat an earlier cursor, or point to another collection. */
  badNextLink?: "repeat-cursor" | "foreign-collection";
  /** End-of-collection style: `about:blank` next link (default) or no next link at all. */
  endOfList?: "about-blank" | "omit";
}

/** One scripted answer for the next request matching `route` (all routes when omitted). */
export type ScriptedFault = {
  route?: RouteName;
} & (
  | { kind: "status"; status: number; retryAfter?: string; body?: unknown }
  | { kind: "timeout" }
  | { kind: "reset" }
  | { kind: "malformed-json" }
  /** Apply the request (e.g. really delete), then never answer: an unknown outcome. */
  | { kind: "timeout-after-apply" }
);

export type RouteName =
  | "GET /v2/evses"
  | "GET /v2/evses/{id}"
  | "DELETE /v2/evses/{id}"
  | "POST /o/token/"
  | "other";

export interface RequestLogEntry {
  /** Simulated time the request arrived. */
  at: number;
  method: string;
  route: RouteName;
  /** The status answered, or "timeout" / "reset" when none was. */
  status: number | "timeout" | "reset";
  /** The rate-limit bucket (client id or static token name), when authenticated. */
  bucket?: string;
}

export interface SimStats {
  /** Requests per route, e.g. `{"GET /v2/evses": 3, "POST /o/token/": 1}`. */
  requests: Partial<Record<RouteName, number>>;
  total: number;
  /** How many 429s were answered. */
  rateLimited: number;
  /** Ids that DELETE removed, in order. */
  deleted: string[];
}

/** A device as the simulator keeps it (not the wire shape). */
export interface SimDevice {
  id: string;
  cpid: string;
  lockMode: "UNLOCKED" | "SMART" | "LOCKED" | null;
  /** null: the device has never reported a status. */
  status: SimStatus | null;
  /**
   * Raw JSON fields merged over the rendered item, to serve shapes ev.energy's beta might
   * (missing, null, wrong types). `undefined` values delete a field.
   */
  rawOverride?: Record<string, unknown>;
}

export interface SimStatus {
  sampledAt: number;
  loggedAt: number;
  isPluggedIn: boolean | null;
  isCharging: boolean | null;
  chargeRateWatts: number | null;
  exportPowerWatts: number | null;
}

/** A change the simulator made to the fleet, so tests can check each one was detected. */
export interface SimChange {
  at: number;
  evseId: string;
  kind:
    | "appeared"
    | "disappeared"
    | "plugged-in"
    | "unplugged"
    | "charging-started"
    | "charging-stopped"
    | "charge-rate"
    | "lock-mode"
    | "fell-silent"
    | "came-back";
}

export interface SimFleet {
  /** All devices in ascending id order. */
  list(): readonly SimDevice[];
  get(id: string): SimDevice | undefined;
  /** Adds a device (a new ULID id after every existing one unless `id` is given). */
  add(device?: Partial<SimDevice>): SimDevice;
  remove(id: string): boolean;
  /** Changes a device; a status patch also moves `sampledAt` to now unless given. */
  update(
    id: string,
    patch: Partial<Omit<SimDevice, "id" | "status">> & { status?: Partial<SimStatus> | null },
  ): SimDevice;
  /** Serves a raw list item with no usable id next to `afterId` (tolerant-reader tests). */
  addInvalidItem(afterId: string, item: Record<string, unknown>): void;
  /**
   * Changes about `fraction` of devices at once with the seeded generator (status fields, lock
   * mode), as one sweep's worth of churn for the benchmark. Returns the changes made.
   */
  churn(fraction: number): SimChange[];
  /**
   * A fleet-wide silence: about `fraction` of the reporting devices stop reporting at once
   * (their last sample `sinceMs` ago, default now) and stay silent until `recover`; the fleet's
   * own dynamics never bring them back. Returns their ids.
   */
  silence(fraction: number, options?: { sinceMs?: number }): string[];
  /** Ends the silence: every device `silence` silenced reports again now. Returns their ids. */
  recover(): string[];
  /**
   * Every device that reports (not silent, not never-reported) samples now: what a static
   * fleet's devices do only when told, so tests can keep them online as time passes.
   */
  sampleAll(): number;
  /** Every change made so far (by `churn`, dynamics, `add`, `remove`, `update`). */
  changes(): readonly SimChange[];
  /** The whole state, JSON-safe, to go on from later (`SimulatorOptions.restore`). */
  snapshot(): FleetSnapshot;
}

export interface Simulator {
  /** e.g. `http://127.0.0.1:41234` */
  readonly origin: string;
  /** `${origin}/v2`: what the client takes as its base URL. */
  readonly apiBaseUrl: string;
  /** `${origin}/o/token/` */
  readonly tokenUrl: string;
  readonly clock: SimClock;
  readonly fleet: SimFleet;
  stats(): SimStats;
  /** Every request with its simulated time, oldest first. */
  requestLog(): readonly RequestLogEntry[];
  setFaults(faults: Faults): void;
  /** Queues scripted answers, used in order by the next matching requests. */
  script(...faults: ScriptedFault[]): void;
  /** Moves simulated time (and, when dynamic, evolves the fleet over it). */
  advance(ms: number): void;
  /** Lets `POST /_sim/webhook-faults` switch a webhook sender's faults (see webhooks.ts). */
  attachWebhooks(sender: { setFaults(faults: import("./webhooks.js").WebhookFaults): void }): void;
  /** Back to the seeded fleet, no faults, empty stats and rate-limit buckets. */
  reset(): void;
  close(): Promise<void>;
}
