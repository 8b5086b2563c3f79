/**
 * The decommission store in memory, with DynamoDB's semantics where they matter: every read
 * returns a copy, every write is atomic on one item, and `update` applies only when the
 * conditions the DynamoDB adapter expresses hold (version, status, expiry). For tests that run
 * thousands of interleavings; the same tests also run against the DynamoDB adapter.
 */
import type { DecommissionRequest } from "../../functions/core/decommission/model.js";
import type {
  DecommissionStore,
  OpenClaim,
  Page,
  RequestQuery,
  RequestUpdate,
} from "../../functions/core/decommission/ports.js";

export class MemoryDecommissionStore implements DecommissionStore {
  readonly #requests = new Map<string, DecommissionRequest>();
  readonly #guards = new Map<string, { requestId: string; claimedAt: number }>();

  /** Overwrites an item unconditionally: what a role with PutItem on the table could do. */
  put(request: DecommissionRequest): void {
    this.#requests.set(request.id, structuredClone(request));
  }

  async create(request: DecommissionRequest): Promise<void> {
    if (this.#requests.has(request.id)) throw new Error("ConditionalCheckFailedException");
    this.#requests.set(request.id, structuredClone(request));
  }

  async get(id: string): Promise<DecommissionRequest | undefined> {
    const request = this.#requests.get(id);
    return request && structuredClone(request);
  }

  async update(id: string, update: RequestUpdate): Promise<DecommissionRequest | "conflict"> {
    const current = this.#requests.get(id);
    if (
      current === undefined ||
      current.version !== update.expectedVersion ||
      !update.allowedFrom.includes(current.status) ||
      (update.unexpiredAt !== undefined && !(current.expiresAt > update.unexpiredAt))
    ) {
      return "conflict";
    }
    const next: DecommissionRequest = {
      ...current,
      ...structuredClone(update.set),
      status: update.status,
      version: current.version + 1,
      updatedAt: update.updatedAt,
      history: [...current.history, ...structuredClone(update.history)],
    };
    this.#requests.set(id, next);
    return structuredClone(next);
  }

  async markPublished(id: string, version: number): Promise<void> {
    const current = this.#requests.get(id);
    if (current !== undefined && current.publishedVersion < version) {
      current.publishedVersion = version;
    }
  }

  async list(query: RequestQuery): Promise<Page<DecommissionRequest>> {
    const items = [...this.#requests.values()]
      .filter((request) => query.status === undefined || request.status === query.status)
      .filter((request) => query.evseId === undefined || request.evseId === query.evseId)
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, query.limit)
      .map((request) => structuredClone(request));
    return { items, nextCursor: undefined };
  }

  async *inStatus(
    status: DecommissionRequest["status"],
    updatedSince?: string,
  ): AsyncIterable<DecommissionRequest> {
    const matching = [...this.#requests.values()].filter(
      (request) =>
        request.status === status &&
        (updatedSince === undefined || request.updatedAt >= updatedSince),
    );
    for (const request of matching) yield structuredClone(request);
  }

  async claimEvse(evseId: string, requestId: string, now: number): Promise<OpenClaim> {
    const guard = this.#guards.get(evseId);
    if (guard !== undefined) {
      return { claimed: false, holder: guard.requestId, claimedAt: guard.claimedAt };
    }
    this.#guards.set(evseId, { requestId, claimedAt: now });
    return { claimed: true };
  }

  async takeOverEvse(evseId: string, from: string, to: string, now: number): Promise<boolean> {
    const guard = this.#guards.get(evseId);
    if (guard !== undefined && guard.requestId !== from) return false;
    this.#guards.set(evseId, { requestId: to, claimedAt: now });
    return true;
  }

  async releaseEvse(evseId: string, requestId: string): Promise<void> {
    if (this.#guards.get(evseId)?.requestId === requestId) this.#guards.delete(evseId);
  }

  async openRequestFor(evseId: string): Promise<string | undefined> {
    return this.#guards.get(evseId)?.requestId;
  }
}
