/**
 * The interfaces the decommission use cases need beyond the shared ones in functions/ports.ts.
 * DynamoDB adapters implement them for Lambda and the sandbox; tests hand in the same adapters
 * over the embedded DynamoDB, or fakes.
 */
import type { DeviceState, Lifecycle } from "../device-state.js";
import type { DecommissionRequest, HistoryEntry, Status } from "./model.js";

export interface Page<T> {
  items: T[];
  /** Opaque; undefined at the end. */
  nextCursor: string | undefined;
}

export interface RequestQuery {
  status?: Status | undefined;
  evseId?: string | undefined;
  limit: number;
  /** A cursor from an earlier page of the same query; a foreign one is an InvalidCursor. */
  cursor?: string | undefined;
}

/** One conditional write: from one of `allowedFrom` at `expectedVersion`, to `status`. */
export interface RequestUpdate {
  expectedVersion: number;
  allowedFrom: readonly Status[];
  status: Status;
  /** Attributes replaced by the write. */
  set: Partial<Omit<DecommissionRequest, "id" | "status" | "history" | "version">>;
  /** Appended to the history (their `version` is the new version). */
  history: HistoryEntry[];
  updatedAt: string;
  /** Also require the request's `expiresAt` to be later than this (an approval's time). */
  unexpiredAt?: string;
}

export type OpenClaim = { claimed: true } | { claimed: false; holder: string; claimedAt: number };

export interface DecommissionStore {
  /** Writes a new request; the id must be new. */
  create(request: DecommissionRequest): Promise<void>;
  get(id: string): Promise<DecommissionRequest | undefined>;
  /** The written request, or "conflict" when the status or version no longer matched. */
  update(id: string, update: RequestUpdate): Promise<DecommissionRequest | "conflict">;
  /** Records that the events up to `version` reached the bus (never moves backwards). */
  markPublished(id: string, version: number): Promise<void>;
  list(query: RequestQuery): Promise<Page<DecommissionRequest>>;
  /** Every request in `status` (for the reconciler), optionally only those updated since. */
  inStatus(status: Status, updatedSince?: string): AsyncIterable<DecommissionRequest>;

  /** The open-request guard: at most one open request per EVSE. */
  claimEvse(evseId: string, requestId: string, now: number): Promise<OpenClaim>;
  /**
   * Moves the guard from `from` to `to`; false if someone else moved it. Only for a `from`
   * that is no longer open (or was never written): an open request keeps its guard.
   */
  takeOverEvse(evseId: string, from: string, to: string, now: number): Promise<boolean>;
  /** Frees the guard if `requestId` still holds it. */
  releaseEvse(evseId: string, requestId: string): Promise<void>;
  /** The request holding the guard, if any. */
  openRequestFor(evseId: string): Promise<string | undefined>;
}

/** A response kept for replay under an idempotency key. */
export interface StoredResponse {
  statusCode: number;
  body: string;
  headers: Record<string, string>;
}

export type IdempotencyRecord =
  | { state: "in-progress"; fingerprint: string }
  | { state: "completed"; fingerprint: string; response: StoredResponse };

export interface IdempotencyClaim {
  scope: string;
  key: string;
  fingerprint: string;
  /** Identifies this call, so only it completes or releases the record. */
  owner: string;
  now: number;
  /** The record is kept (and the key answered from it) until then. */
  expiresAt: number;
  /** An in-progress record older than this is considered abandoned (its caller died). */
  lockUntil: number;
}

export interface IdempotencyStore {
  /** "started" when this call owns the key now; otherwise the record that holds it. */
  begin(claim: IdempotencyClaim): Promise<"started" | IdempotencyRecord>;
  complete(scope: string, key: string, owner: string, response: StoredResponse): Promise<void>;
  /** Deletes the record this call started (a refused call leaves nothing behind). */
  release(scope: string, key: string, owner: string): Promise<void>;
}

/** What the executor receives from the queue. */
export interface ExecutionMessage {
  requestId: string;
  /** Must equal the request's `execution.token`; older messages are superseded. */
  token: string;
}

export interface ExecutionQueue {
  enqueue(message: ExecutionMessage): Promise<void>;
}

/** The executor's one write to the poll's device items. */
export interface DeviceCompletion {
  /**
   * Marks a device the executor deleted `decommissioned` (it leaves `GET /evses`), moving its
   * version on so a poll write based on the older state conflicts and re-reads. Nothing when
   * the device is unknown or already marked.
   */
  markDecommissioned(evseId: string, at: string): Promise<void>;
}

/** Operators stop all execution with it, without a deploy; approvals still happen and wait. */
export interface PauseSwitch {
  isPaused(): Promise<boolean>;
}

/** The poll's last-seen device states, as the API lists them. */
export interface DeviceDirectory {
  list(query: {
    limit: number;
    cursor?: string | undefined;
    lifecycle?: Lifecycle | undefined;
  }): Promise<Page<DeviceState>>;
}
