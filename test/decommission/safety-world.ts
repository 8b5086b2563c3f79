/**
 * A small world for the decommission safety tests: the use cases of the API, the executor,
 * the dead-letter function and the reconciler over one store, a scripted ev.energy that
 * remembers which request sent which DELETE, a queue and its dead-letter queue, and a clock.
 *
 * Every call a use case makes to the store or to ev.energy passes a gate first (so a test or
 * fast-check's scheduler decides the interleaving) and may crash the caller before or after
 * it takes effect (a Lambda dying between two steps). A dead caller makes no further calls.
 */

import {
  EvEnergyProblem,
  EvEnergyUnavailable,
  RateLimited,
} from "../../functions/adapters/ev-energy/errors.js";
import { approvalViolation } from "../../functions/core/decommission/approval.js";
import { compileApproverPatterns } from "../../functions/core/decommission/approvers.js";
import { createRequest } from "../../functions/core/decommission/create-request.js";
import {
  type DeadLetterOutcome,
  failDeadLettered,
} from "../../functions/core/decommission/dead-letters.js";
import { DecommissionRefusal } from "../../functions/core/decommission/errors.js";
import {
  type ExecutorSettings,
  executeMessage,
  type Verdict,
} from "../../functions/core/decommission/execute.js";
import {
  type DecommissionEvent,
  type DecommissionRequest,
  INITIAL_EXECUTION,
  isOpen,
  newRequestId,
  STATUSES,
} from "../../functions/core/decommission/model.js";
import type {
  DecommissionStore,
  DeviceCompletion,
  ExecutionMessage,
} from "../../functions/core/decommission/ports.js";
import { parsePrincipal, samePerson } from "../../functions/core/decommission/principal.js";
import { reconcile } from "../../functions/core/decommission/reconcile.js";
import {
  approveRequest,
  cancelRequest,
  type RequestDependencies,
  rejectRequest,
} from "../../functions/core/decommission/requests.js";
import type { DeviceState } from "../../functions/core/device-state.js";
import type { Evse } from "../../functions/core/evse.js";
import type {
  DeleteOutcome,
  EvEnergyApi,
  EventPublisher,
  EvseLookup,
} from "../../functions/ports.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { silentLogger } from "../support/poll-harness.js";
import { ARNS, aDevice, evseId, SANDBOX_APPROVERS, TEST_APPROVALS } from "./fixtures.js";

/**
 * What ev.energy answers to one call; `-applied`: the DELETE took effect before the failure;
 * 403: a permanent refusal (a revoked credential).
 */
export type Answer = "ok" | "429" | "403" | "503" | "503-applied" | "timeout" | "timeout-applied";

export const EVSES = [evseId(1), evseId(2)] as const;
export const REQUESTERS = [
  ARNS.requester,
  "arn:aws:sts::111111111111:assumed-role/ops-system/job-17",
] as const;
/** alice (the first requester) through the approver role, bob, carol, and a non-approver. */
export const APPROVERS = [
  ARNS.approverAlice,
  ARNS.approverBob,
  ARNS.approverCarol,
  ARNS.requesterOtherSession,
] as const;

const MINUTE = 60_000;
export const SETTINGS = {
  requests: { approvers: compileApproverPatterns(SANDBOX_APPROVERS), pendingExpiryMs: 60 * MINUTE },
  executor: {
    maxAttempts: 3,
    baseBackoffMs: 1_000,
    maxBackoffMs: 10_000,
    leaseMs: MINUTE,
  } satisfies ExecutorSettings,
  reconciler: { staleAfterMs: 15 * MINUTE, republishWindowMs: 24 * 60 * MINUTE },
};

/** The store a world runs on, with what the assertions need beyond the port. */
export interface WorldStore extends DecommissionStore {
  /** Every request as stored. */
  all(): Promise<DecommissionRequest[]>;
}

/** The devices the API reads and the executor marks decommissioned. */
export interface WorldDevices extends DeviceCompletion {
  get(evseId: string): Promise<DeviceState | undefined>;
}

export type Gate = (label: string) => Promise<void>;
export type Crash = { at: number; after: boolean } | undefined;

/** A caller dying: the test's own, never an error of the code under test. */
export class Died extends Error {
  override readonly name = "Died";
}

interface Message extends ExecutionMessage {
  receives: number;
}

export class World {
  readonly clock = new ManualClock("2026-03-02T08:00:00.000Z");
  /** ev.energy's fleet: what is still there. */
  readonly present = new Set<string>(EVSES);
  /** Per EVSE, the requests that sent it a DELETE (any outcome). */
  readonly senders = new Map<string, Set<string>>();
  /** Per EVSE, the request whose DELETE took effect. */
  readonly deletedBy = new Map<string, string>();
  /** What must never happen, as it happened. */
  readonly violations: string[] = [];
  readonly forged = new Set<string>();
  readonly live: Message[] = [];
  readonly dead: Message[] = [];
  readonly events: DecommissionEvent[] = [];
  answers: Answer[] = [];
  paused = false;
  #ids = 0;
  #tokens = 0;
  readonly #random = seededRandom(11);

  constructor(
    readonly store: WorldStore,
    readonly devices: WorldDevices,
  ) {}

  /** Upstream answers in order; "ok" once they run out. */
  #answer(): Answer {
    return this.answers.shift() ?? "ok";
  }

  /** The dependencies of one caller: every store and upstream call gated and crashable. */
  deps(gate: Gate, crash: Crash = undefined, executing?: string) {
    let calls = 0;
    let dead = false;
    const step = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
      if (dead) throw new Died(`dead before ${label}`);
      await gate(label);
      if (dead) throw new Died(`dead before ${label}`);
      calls += 1;
      if (crash?.at === calls && !crash.after) {
        dead = true;
        throw new Died(`died before ${label}`);
      }
      const result = await run();
      if (crash?.at === calls && crash.after) {
        dead = true;
        throw new Died(`died after ${label}`);
      }
      return result;
    };
    const store = this.store;
    const gated: DecommissionStore = {
      create: (request) => step("store.create", () => store.create(request)),
      get: (id) => step("store.get", () => store.get(id)),
      update: (id, update) => step(`store.update ${update.status}`, () => store.update(id, update)),
      markPublished: (id, version) =>
        step("store.markPublished", () => store.markPublished(id, version)),
      list: (query) => step("store.list", () => store.list(query)),
      inStatus: (status, since) => store.inStatus(status, since),
      claimEvse: (evse, id, now) => step("store.claimEvse", () => store.claimEvse(evse, id, now)),
      takeOverEvse: (evse, from, to, now) =>
        step("store.takeOverEvse", () => store.takeOverEvse(evse, from, to, now)),
      releaseEvse: (evse, id) => step("store.releaseEvse", () => store.releaseEvse(evse, id)),
      openRequestFor: (evse) => step("store.openRequestFor", () => store.openRequestFor(evse)),
    };
    const publisher: EventPublisher<DecommissionEvent> = {
      publish: async (events) => {
        this.events.push(...events);
        return { failed: [] };
      },
    };
    const api: Pick<EvEnergyApi, "getEvse" | "deleteEvse"> = {
      getEvse: (id) => step("ev.energy GET", async () => this.#get(id)),
      deleteEvse: (id) => step("ev.energy DELETE", () => this.#delete(id, executing)),
    };
    const base = {
      store: gated,
      publisher,
      clock: this.clock,
      logger: silentLogger,
      newToken: () => `token-${++this.#tokens}`,
    };
    const requests: RequestDependencies = {
      ...base,
      devices: { get: (id) => step("devices.get", () => this.devices.get(id)) },
      queue: { enqueue: async (message) => void this.live.push({ ...message, receives: 0 }) },
      newRequestId: () => {
        this.#ids += 1;
        const bytes = new Uint8Array(16).fill(this.#ids % 256);
        return newRequestId(this.clock.now() + this.#ids, bytes);
      },
      signer: TEST_APPROVALS,
    };
    const pause = { isPaused: async () => this.paused };
    return {
      requests,
      executor: {
        ...base,
        devices: {
          markDecommissioned: (id: string, at: string) =>
            step("devices.markDecommissioned", () => this.devices.markDecommissioned(id, at)),
        },
        verifier: TEST_APPROVALS,
        api,
        pause,
        random: this.#random,
      },
      reconciler: { ...base, queue: requests.queue, pause },
    };
  }

  async #get(id: string): Promise<EvseLookup> {
    const answer = this.#answer();
    this.#fail(answer, `GET /v2/evses/${id}`);
    if (!this.present.has(id)) return { status: "not-found", evseId: id };
    const evse: Evse = {
      id,
      cpid: cpidOf(id),
      latestStatusLog: { sampledAt: new Date(this.clock.now()).toISOString(), isCharging: false },
    };
    return { status: "found", evse };
  }

  async #delete(id: string, requestId: string | undefined): Promise<DeleteOutcome> {
    await this.#checkDelete(id, requestId);
    const answer = this.#answer();
    const applies = answer === "ok" || answer.endsWith("-applied");
    const found = this.present.has(id);
    if (applies && found) {
      this.present.delete(id);
      this.deletedBy.set(id, requestId ?? "?");
    }
    this.#fail(answer, `DELETE /v2/evses/${id}`);
    return found ? { status: "deleted" } : { status: "not-found", evseId: id };
  }

  #fail(answer: Answer, request: string): void {
    if (answer === "429") throw new RateLimited(this.clock.now() + 5_000, request);
    if (answer === "403") throw new EvEnergyProblem({ status: 403 }, request);
    if (answer.startsWith("503")) throw new EvEnergyProblem({ status: 503 }, request);
    if (answer.startsWith("timeout")) {
      throw new EvEnergyUnavailable(request, 1, new Error("the request timed out"));
    }
  }

  /**
   * At the moment a DELETE leaves: it must carry a signed approval by another person, given
   * before the request's expiry, for this EVSE, recorded as sent.
   */
  async #checkDelete(id: string, requestId: string | undefined): Promise<void> {
    const senders = this.senders.get(id) ?? new Set<string>();
    senders.add(requestId ?? "?");
    this.senders.set(id, senders);
    if (senders.size > 1) this.violations.push(`${id}: DELETEs from ${[...senders].join(", ")}`);
    const request = requestId === undefined ? undefined : await this.store.get(requestId);
    if (request === undefined) {
      this.violations.push(`${id}: DELETE for no known request`);
      return;
    }
    const violation = await approvalViolation(request, TEST_APPROVALS);
    if (request.evseId !== id) this.violations.push(`${request.id}: DELETE of another EVSE`);
    if (violation !== undefined) this.violations.push(`${request.id}: DELETE with ${violation}`);
    if (this.forged.has(request.id)) this.violations.push(`${request.id}: forged request DELETEd`);
    if (!request.execution.deleteSent) this.violations.push(`${request.id}: DELETE not recorded`);
    const approver = request.approvedBy && parsePrincipal(request.approvedBy.arn);
    if (!approver || samePerson(approver, parsePrincipal(request.requestedBy.arn))) {
      this.violations.push(`${request.id}: DELETE without another person's approval`);
    }
    if (!(this.clock.now() < Date.parse(request.executableUntil ?? ""))) {
      this.violations.push(`${request.id}: DELETE after the approval's window`);
    }
  }

  // ------------------------------------------------------------------ what callers do

  /** The requests so far, oldest first. */
  async requestIds(): Promise<string[]> {
    return (await this.store.all()).map((request) => request.id).sort();
  }

  create(gate: Gate, crash: Crash, evse: string, requester: string) {
    return this.#expecting(() =>
      createRequest(this.deps(gate, crash).requests, SETTINGS.requests, parsePrincipal(requester), {
        evseId: evse,
        reason: "site closed",
      }),
    );
  }

  approve(gate: Gate, crash: Crash, id: string, approver: string, force = false) {
    return this.#expecting(() =>
      approveRequest(
        this.deps(gate, crash).requests,
        SETTINGS.requests,
        parsePrincipal(approver),
        id,
        { force },
      ),
    );
  }

  reject(gate: Gate, crash: Crash, id: string, approver: string) {
    return this.#expecting(() =>
      rejectRequest(
        this.deps(gate, crash).requests,
        SETTINGS.requests,
        parsePrincipal(approver),
        id,
        "no",
      ),
    );
  }

  cancel(gate: Gate, crash: Crash, id: string, requester: string) {
    return this.#expecting(() =>
      cancelRequest(
        this.deps(gate, crash).requests,
        SETTINGS.requests,
        parsePrincipal(requester),
        id,
        undefined,
      ),
    );
  }

  /** One receive of a live message by an executor; a done verdict deletes it. */
  async deliver(gate: Gate, crash: Crash, message: Message): Promise<Verdict | undefined> {
    message.receives += 1;
    const verdict = await this.#expecting(() =>
      executeMessage(
        this.deps(gate, crash, message.requestId).executor,
        SETTINGS.executor,
        message,
        message.receives,
      ),
    );
    if (verdict?.kind === "done") this.#remove(this.live, message);
    return verdict;
  }

  /** The queue gives up on a live message: it moves to the dead-letter queue and is handled. */
  async deadLetter(gate: Gate, crash: Crash, message: Message) {
    if (this.#remove(this.live, message)) this.dead.push(message);
    return this.handleDead(gate, crash, message);
  }

  /** The dead-letter function on a message of the dead-letter queue. */
  async handleDead(gate: Gate, crash: Crash, message: Message) {
    const outcome: DeadLetterOutcome | undefined = await this.#expecting(() =>
      failDeadLettered(this.deps(gate, crash).executor, message),
    );
    if (outcome !== undefined && outcome.kind !== "retry") this.#remove(this.dead, message);
    return outcome;
  }

  reconcile(gate: Gate, crash: Crash) {
    return this.#expecting(() => reconcile(this.deps(gate, crash).reconciler, SETTINGS.reconciler));
  }

  /**
   * Writes an APPROVED request no API approved, as a role with write access to the table
   * could, and puts an execution message for it on the queue.
   */
  async forge(evse: string, variant: "self-approved" | "copied-signature" | "unsigned") {
    const requests = await this.store.all();
    const signed = requests.find((request) => request.approvalMac !== null);
    this.#ids += 1;
    const now = this.clock.now();
    const id = newRequestId(now + this.#ids, new Uint8Array(16).fill(200 + (this.#ids % 50)));
    const at = new Date(now).toISOString();
    const requester = parsePrincipal(REQUESTERS[0]);
    const approver = parsePrincipal(
      variant === "self-approved" ? ARNS.approverAlice : ARNS.approverBob,
    );
    const token = `forged-${this.#ids}`;
    const forged: DecommissionRequest = {
      id,
      evseId: evse,
      cpid: cpidOf(evse),
      device: { ...aDevice({ evseId: evse }), lastSeenAt: at },
      status: "APPROVED",
      reason: "forged",
      externalRef: null,
      requestedBy: requester,
      requestedAt: at,
      expiresAt: new Date(now + SETTINGS.requests.pendingExpiryMs).toISOString(),
      requestMac: signed?.requestMac ?? null,
      approvedBy: approver,
      approvedAt: at,
      executableUntil: new Date(now + SETTINGS.requests.pendingExpiryMs).toISOString(),
      approvalMac:
        variant === "unsigned"
          ? null
          : variant === "copied-signature" && signed?.approvalMac
            ? signed.approvalMac
            : Buffer.alloc(32, 9).toString("base64"),
      force: false,
      decidedBy: null,
      outcome: null,
      completedAt: null,
      execution: { ...INITIAL_EXECUTION, token, enqueuedAt: at },
      history: [
        {
          at,
          actor: requester.arn,
          action: "requested",
          from: null,
          to: "PENDING_APPROVAL",
          version: 1,
        },
        {
          at,
          actor: approver.arn,
          action: "approved",
          from: "PENDING_APPROVAL",
          to: "APPROVED",
          version: 2,
        },
      ],
      version: 2,
      publishedVersion: 2,
      updatedAt: at,
    };
    await this.store.create(forged);
    this.forged.add(id);
    this.live.push({ requestId: id, token, receives: 0 });
  }

  /**
   * Everything healthy from now on: no pause, ev.energy answering, time passing in steps
   * longer than the reconciler's staleness, until no request is left open and both queues are
   * empty.
   */
  async settle(rounds = 60): Promise<void> {
    const open: Gate = async () => undefined;
    this.paused = false;
    this.answers = [];
    for (let round = 0; round < rounds; round++) {
      this.clock.advance(16 * MINUTE);
      await this.reconcile(open, undefined);
      for (const message of [...this.live]) await this.deliver(open, undefined, message);
      for (const message of [...this.dead]) await this.handleDead(open, undefined, message);
      const requests = await this.store.all();
      if (
        this.live.length === 0 &&
        this.dead.length === 0 &&
        !requests.some((r) => isOpen(r.status))
      ) {
        return;
      }
    }
    this.violations.push("the system did not settle");
  }

  /**
   * What must hold between any two steps: an approved or executing request holds its EVSE's
   * guard (so no other request for that EVSE can be approved while it is live).
   */
  async checkInvariants(): Promise<void> {
    for (const request of await this.store.all()) {
      if (this.forged.has(request.id)) continue;
      if (request.status !== "APPROVED" && request.status !== "EXECUTING") continue;
      const holder = await this.store.openRequestFor(request.evseId);
      if (holder !== request.id) {
        this.violations.push(
          `${request.id}: ${request.status} while ${request.evseId}'s guard names ${holder ?? "nobody"}`,
        );
      }
    }
  }

  /** What must hold once everything settled. */
  async finalViolations(): Promise<string[]> {
    const found = [...this.violations];
    const requests = await this.store.all();
    for (const request of requests) {
      if (isOpen(request.status)) found.push(`${request.id}: still ${request.status}`);
      if (request.status === "COMPLETED") {
        if (this.present.has(request.evseId)) {
          found.push(`${request.id}: COMPLETED but ${request.evseId} is still at ev.energy`);
        }
        if (this.deletedBy.get(request.evseId) !== request.id) {
          found.push(`${request.id}: COMPLETED for a DELETE that was not its own`);
        }
      }
      if (this.forged.has(request.id) && request.status !== "FAILED") {
        found.push(`${request.id}: forged request ended ${request.status}`);
      }
      // The executor's check is the last line: an approval the API let through must pass it.
      if (!this.forged.has(request.id) && request.outcome?.startsWith("integrity violation")) {
        found.push(
          `${request.id}: the API recorded an approval the executor refused: ${request.outcome}`,
        );
      }
    }
    for (const [evse, requestId] of this.deletedBy) {
      const owner = requests.find((request) => request.id === requestId);
      if (owner?.status !== "COMPLETED") {
        found.push(`${evse}: deleted by ${requestId}, which ended ${owner?.status ?? "missing"}`);
      }
    }
    return found;
  }

  /** Runs a use case; refusals and deaths are expected, anything else is a finding. */
  async #expecting<T>(run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DecommissionRefusal || error instanceof Died) return undefined;
      this.violations.push(
        `unexpected error: ${error instanceof Error ? error.stack : String(error)}`,
      );
      return undefined;
    }
  }

  #remove(list: Message[], message: Message): boolean {
    const index = list.indexOf(message);
    if (index >= 0) list.splice(index, 1);
    return index >= 0;
  }
}

export function cpidOf(evse: string): string {
  return `CP-${evse.slice(-4)}`;
}

/** The store of a world over any DecommissionStore: `all` reads every status. */
export function worldStore(store: DecommissionStore): WorldStore {
  return {
    create: (request) => store.create(request),
    get: (id) => store.get(id),
    update: (id, update) => store.update(id, update),
    markPublished: (id, version) => store.markPublished(id, version),
    list: (query) => store.list(query),
    inStatus: (status, since) => store.inStatus(status, since),
    claimEvse: (evse, id, now) => store.claimEvse(evse, id, now),
    takeOverEvse: (evse, from, to, now) => store.takeOverEvse(evse, from, to, now),
    releaseEvse: (evse, id) => store.releaseEvse(evse, id),
    openRequestFor: (evse) => store.openRequestFor(evse),
    async all() {
      const found: DecommissionRequest[] = [];
      for (const status of STATUSES) {
        for await (const request of store.inStatus(status)) found.push(request);
      }
      return found;
    },
  };
}

/** Devices in memory: the two EVSEs, active, idle. */
export function memoryDevices(): WorldDevices {
  const devices = new Map(EVSES.map((id) => [id, aDevice({ evseId: id, cpid: cpidOf(id) })]));
  return {
    get: async (id) => {
      const device = devices.get(id);
      return device && { ...device };
    },
    markDecommissioned: async (id, at) => {
      const device = devices.get(id);
      if (device === undefined || device.lifecycle === "decommissioned") return;
      devices.set(id, {
        ...device,
        lifecycle: "decommissioned",
        lastChangedAt: at,
        version: device.version + 1,
      });
    },
  };
}
