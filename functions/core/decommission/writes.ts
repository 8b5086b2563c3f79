/**
 * The two steps every use case ends with: one conditional write of a transition (with its
 * history entry), then the events of what was written. Events go out after the write, with ids
 * derived from the request and version, and the request remembers how far they reached the bus,
 * so the reconciler resends whatever a crash or a bus outage held back.
 */
import type { Clock, EventPublisher, Logger } from "../../ports.js";
import type { DecommissionEvent, DecommissionRequest } from "./model.js";
import { eventsSince } from "./model.js";
import type { DecommissionStore, RequestUpdate } from "./ports.js";
import { type Action, TRANSITIONS, targetOf } from "./state-machine.js";

export interface WriteDependencies {
  store: DecommissionStore;
  publisher: EventPublisher<DecommissionEvent>;
  clock: Clock;
  logger: Logger;
}

export interface WriteOptions {
  actor: string;
  detail?: string | undefined;
  set?: RequestUpdate["set"];
  /** Leave the history alone (execution bookkeeping that says nothing new). */
  silent?: boolean;
  /** Only if the request's expiry is later than this (see RequestUpdate). */
  unexpiredAt?: string;
  /** The entry's time when it must equal a time the caller recorded (an approval's). */
  at?: string;
}

/** Writes `action` on `request` as read; "conflict" when another writer got there first. */
export function writeTransition(
  deps: WriteDependencies,
  request: DecommissionRequest,
  action: Action,
  options: WriteOptions,
): Promise<DecommissionRequest | "conflict"> {
  const transition = TRANSITIONS[action];
  const to = targetOf(action, request.status);
  const at = options.at ?? iso(deps.clock.now());
  const version = request.version + 1;
  return deps.store.update(request.id, {
    expectedVersion: request.version,
    allowedFrom: transition.from,
    status: to,
    set: options.set ?? {},
    history: options.silent
      ? []
      : [
          {
            at,
            actor: options.actor,
            action: transition.records,
            from: request.status,
            to,
            ...(options.detail === undefined ? {} : { detail: options.detail }),
            version,
          },
        ],
    updatedAt: at,
    ...(options.unexpiredAt === undefined ? {} : { unexpiredAt: options.unexpiredAt }),
  });
}

/**
 * Publishes the request's events not yet on the bus and records how far they got. A failure is
 * logged, not thrown: the write already happened and the reconciler resends. Returns how many
 * events it tried to publish: none when the versions since the last publish carry no event
 * (e.g. an execution attempt starting).
 */
export async function announce(
  deps: WriteDependencies,
  request: DecommissionRequest,
): Promise<number> {
  const events = eventsSince(request, request.publishedVersion);
  if (events.length === 0) return 0;
  try {
    const { failed } = await deps.publisher.publish(events);
    if (failed.length > 0) {
      deps.logger.error("decommission events not published; the reconciler will resend them", {
        requestId: request.id,
        failed: failed.map((event) => event.type),
      });
      return events.length;
    }
    await deps.store.markPublished(request.id, request.version);
  } catch (error) {
    deps.logger.error("decommission events not published; the reconciler will resend them", {
      requestId: request.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
  return events.length;
}

export function iso(time: number): string {
  return new Date(time).toISOString();
}

/**
 * Marks `request` FAILED with `reason` (from APPROVED or EXECUTING, at the version read), frees
 * its EVSE and publishes `EVSE Decommission Failed`; "conflict" when another writer got there
 * first.
 */
export async function failRequest(
  deps: WriteDependencies,
  request: DecommissionRequest,
  reason: string,
  actor: string,
): Promise<DecommissionRequest | "conflict"> {
  const written = await writeTransition(deps, request, "fail", {
    actor,
    detail: reason,
    set: {
      outcome: reason,
      execution: { ...request.execution, leaseOwner: null, leaseUntil: null },
    },
  });
  if (written === "conflict") return written;
  await deps.store.releaseEvse(written.evseId, written.id);
  await announce(deps, written);
  deps.logger.warn("decommission request failed", { requestId: written.id, reason });
  return written;
}
