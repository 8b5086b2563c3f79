/**
 * The webhook worker's use case: one verified webhook from the queue → at most one refresh of
 * the EVSE it names, through the same change detection, the same conditional versioned device
 * write and the same history and rollup records as the poll, published with the same publisher
 * before the write. The poll stays the source of truth: whatever this path cannot do (share
 * spent, 429, an unknown EVSE) it leaves, changing nothing, to the next sweep.
 */
import type {
  Clock,
  DeviceStore,
  EvEnergyApi,
  EventPublisher,
  Logger,
  Random,
} from "../../ports.js";
import type { ChangeEvent, Detection, DetectionSettings, DeviceState } from "../device-state.js";
import { observedSince } from "../device-state.js";
import type { Evse } from "../evse.js";
import type { FleetHealth } from "../fleet-health.js";
import { type WebhookBudgetSettings, webhookShareOf } from "./budget.js";
import {
  type Claim,
  type ClaimOutcome,
  type ClaimSettings,
  decideClaim,
  finishedClaim,
  retryingClaim,
} from "./claim.js";
import { detectForWebhook } from "./detect.js";
import { noticeTime, parseWebhook } from "./notice.js";
import type { QueuedWebhook, WebhookClaims, WebhookLedgerStore } from "./ports.js";
import { refundToLedger, spendFromLedger } from "./spend.js";

export interface WebhookDependencies {
  api: EvEnergyApi;
  devices: DeviceStore;
  claims: WebhookClaims;
  ledger: WebhookLedgerStore;
  publisher: EventPublisher<ChangeEvent>;
  clock: Clock;
  /** Jitter for the ledger's backoff when workers race for it. */
  random: Random;
  logger: Logger;
  /** Token exchanges with ev.energy so far by this process. */
  tokenExchanges: () => number;
  /** History and rollups, as the poll keeps them; absent: none kept. */
  health?: FleetHealth;
}

export interface WebhookSettings extends DetectionSettings, ClaimSettings, WebhookBudgetSettings {
  /** How long after a too-old sample the one retry comes. */
  retryDelayMs: number;
}

export type WebhookResult =
  | { outcome: "duplicate"; events: [] }
  | { outcome: "retry-later"; delayMs: number; events: [] }
  | { outcome: ClaimOutcome | "publish-failed" | "contended"; events: ChangeEvent[] };

/**
 * A refresh's worst case, reserved before it is sent: a token exchange, the GET, and after a
 * 401 a second exchange and the GET again. What was not sent is given back afterwards.
 */
export const REFRESH_WORST_CASE_REQUESTS = 4;
const MAX_CONFLICT_RETRIES = 3;

/**
 * 1. Claim the message id (a duplicate, or one another delivery is working on, stops here).
 * 2. Read the body; no EVSE named (or unreadable): done, nothing to refresh.
 * 3. Spend the refresh's worst case from the webhook share (spent: done, left to the poll).
 * 4. `GET /v2/evses/{id}?expand=latest_status_log` without retries (429: done, left to the
 *    poll); give back what was not sent, alongside the steps that follow (awaited at the end).
 * 5. A sample older than the sub-session's time on the first attempt: one retry later.
 * 6. Detect against the stored state (detect.ts: a newer sample is stored even without a
 *    change), publish, then write conditionally on the version and the last heartbeat (with
 *    the history and rollup records); a lost race re-reads, detects again, publishes what is
 *    new. The claim is finished last, so a crash before it redoes the work under the same ids.
 */
export async function handleWebhook(
  deps: WebhookDependencies,
  settings: WebhookSettings,
  message: QueuedWebhook,
): Promise<WebhookResult> {
  const claim = await takeClaim(deps, settings, message.messageId);
  if (!claim) return { outcome: "duplicate", events: [] };
  const finish = async (
    outcome: ClaimOutcome | "publish-failed" | "contended",
    events: ChangeEvent[] = [],
  ): Promise<WebhookResult> => {
    // A publish failure is not remembered as done: the message's redelivery tries again.
    if (outcome !== "publish-failed" && outcome !== "contended") {
      await deps.claims.put(message.messageId, finishedClaim(claim, outcome), claim.revision);
    }
    return { outcome, events };
  };

  const parsed = parseWebhook(message.body);
  if (!parsed.ok) {
    deps.logger.warn("verified webhook not understood; left to the poll", {
      messageId: message.messageId,
      problem: parsed.problem,
    });
    return finish("unreadable");
  }
  const { notice } = parsed;
  if (notice.evseId === null) return finish("no-evse");

  const refreshed = await refresh(deps, settings, notice.evseId);
  try {
    const { lookup } = refreshed;
    if (lookup.status !== "found") return await finish(lookup.status);
    const sample = lookup.evse.latestStatusLog;
    const stale =
      sample !== null &&
      sample !== undefined &&
      Date.parse(sample.sampledAt) < Date.parse(noticeTime(notice));
    if (stale && claim.attempt === 1) {
      const dueAt = deps.clock.now() + settings.retryDelayMs;
      await deps.claims.put(message.messageId, retryingClaim(claim, dueAt), claim.revision);
      return { outcome: "retry-later", delayMs: settings.retryDelayMs, events: [] };
    }
    return await applyRefresh(deps, settings, lookup.evse, finish);
  } finally {
    // Off the change's path, but done before the message is. A refund that could not be
    // written leaves its requests counted (the safe side): no reason to redo finished work.
    await refreshed.refunded.catch((error: unknown) =>
      deps.logger.warn("webhook share refund not written; the reserved requests stay counted", {
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      }),
    );
  }
}

/** Takes the message's claim, or returns undefined for a duplicate. */
async function takeClaim(
  deps: WebhookDependencies,
  settings: ClaimSettings,
  messageId: string,
): Promise<(Claim & { state: "processing" }) | undefined> {
  // Most ids are new: create the claim outright (absent or expired), and read only when that
  // fails because a claim is there. One round trip instead of two for the common case.
  const fresh = decideClaim(undefined, deps.clock.now(), settings);
  if (fresh.action === "take" && (await deps.claims.put(messageId, fresh.next, null))) {
    return fresh.next as Claim & { state: "processing" };
  }
  for (let round = 0; round < MAX_CONFLICT_RETRIES; round += 1) {
    const decision = decideClaim(await deps.claims.get(messageId), deps.clock.now(), settings);
    if (decision.action === "duplicate") return undefined;
    if (await deps.claims.put(messageId, decision.next, decision.expectedRevision)) {
      return decision.next as Claim & { state: "processing" };
    }
  }
  // Deliveries racing for one id: whichever won does the work.
  return undefined;
}

type Lookup = { status: "found"; evse: Evse } | { status: "not-found" | "budget" | "rate-limited" };

interface Refresh {
  lookup: Lookup;
  /** The refund of what the refresh reserved and did not send. */
  refunded: Promise<void>;
}

async function refresh(
  deps: WebhookDependencies,
  settings: WebhookSettings,
  evseId: string,
): Promise<Refresh> {
  const share = webhookShareOf(settings, deps.api.rateLimit?.limit ?? null);
  // Workers racing for the one ledger item spread out: up to 5, 10, … 200 ms, jittered.
  const backoff = (round: number) =>
    deps.clock.sleep(deps.random() * Math.min(200, 5 * 2 ** round));
  const spend = await spendFromLedger(
    deps.ledger,
    {
      now: () => deps.clock.now(),
      cost: REFRESH_WORST_CASE_REQUESTS,
      share,
      sendMarginMs: settings.sendMarginMs,
    },
    backoff,
  );
  if (!spend.spent) {
    deps.logger.info("webhook share spent; the device is left to the next sweep", {
      evseId,
      inWindow: spend.inWindow,
      share,
    });
    return { lookup: { status: "budget" }, refunded: Promise.resolve() };
  }
  // What this refresh sent: its own requests, and every token exchange made meanwhile (one it
  // waited for, or another refresh's: counted twice rather than given back wrongly).
  let ownRequests = 0;
  const exchangesBefore = deps.tokenExchanges();
  const giveBack = () => {
    const sent = ownRequests + deps.tokenExchanges() - exchangesBefore;
    const refunded = refundToLedger(
      deps.ledger,
      spend.at,
      REFRESH_WORST_CASE_REQUESTS - sent,
      backoff,
    );
    refunded.catch(() => undefined);
    return refunded;
  };
  try {
    const lookup = await deps.api.getEvse(evseId, {
      retries: false,
      deadline: spend.at + settings.sendMarginMs,
      onRequest: () => {
        ownRequests += 1;
      },
    });
    return {
      lookup: lookup.status === "found" ? lookup : { status: "not-found" },
      refunded: giveBack(),
    };
  } catch (error) {
    const refunded = giveBack();
    if (error instanceof Error && error.name === "RateLimited") {
      return { lookup: { status: "rate-limited" }, refunded };
    }
    await refunded.catch(() => undefined);
    throw error;
  }
}

/** Detect, publish, write: the poll's steps for one device, labelled as the webhook's. */
async function applyRefresh(
  deps: WebhookDependencies,
  settings: WebhookSettings,
  evse: Evse,
  finish: (
    outcome: "refreshed" | "publish-failed" | "contended",
    events?: ChangeEvent[],
  ) => Promise<WebhookResult>,
): Promise<WebhookResult> {
  const published: ChangeEvent[] = [];
  for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt += 1) {
    const previous = await deps.devices.get(evse.id);
    // A writer with a newer observation came first: leave the device to it (and the sweep).
    if (attempt > 0 && observedSince(previous, evse)) return finish("refreshed", published);
    const now = deps.clock.now();
    const detection = detectForWebhook(previous, evse, now, settings);
    if (detection.write === "none") return finish("refreshed", published);
    if (detection.events.length > 0) {
      const { failed } = await deps.publisher.publish(detection.events);
      if (failed.length > 0) {
        deps.logger.error("events not published; the device is not written", {
          eventIds: failed.map((event) => event.eventId),
        });
        return finish("publish-failed", published);
      }
      published.push(...detection.events);
    }
    if ((await write(deps, previous, detection, now)) === "written") {
      return finish("refreshed", published);
    }
  }
  deps.logger.warn("device still contended after retries; the next sweep will catch up", {
    evseId: evse.id,
  });
  return finish("contended", published);
}

/** The device write with its history and rollup records alongside, as the poll makes it. */
async function write(
  deps: WebhookDependencies,
  previous: DeviceState | undefined,
  detection: Detection,
  now: number,
): Promise<"written" | "conflict"> {
  const records = deps.health?.recordsFor(previous, detection, now);
  const [outcome] = await Promise.all([
    // Conditional on the heartbeat too: one the poll wrote since our read stored a newer sample.
    deps.devices.put(detection.next, previous?.version, previous?.lastSeenAt),
    records && deps.health?.record(detection.next, records),
  ]);
  return outcome;
}
