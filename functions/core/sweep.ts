/**
 * The sweep's persisted progress and the rate-limit budget: plain data and arithmetic.
 */
import type { WriteRecords } from "./device-history.js";
import type { DeviceState } from "./device-state.js";
import type { Evse } from "./evse.js";
import type { FleetProgress } from "./fleet-snapshot.js";

/**
 * A device write whose events are already published. The checkpoint holds a page's writes
 * until they are done, so a run that dies mid-page leaves them to the next run instead of
 * making it read the page again.
 */
export interface PendingWrite {
  state: DeviceState;
  /** The version the write is conditional on; null for a device never stored. */
  expectedVersion: number | null;
  /**
   * The last heartbeat it is conditional on too: a webhook refresh stores a newer sample
   * without a new version, and a write derived from the state before it must not undo it.
   */
  expectedLastSeenAt?: string | undefined;
  /** What the state was derived from, to derive it again after a version conflict: the
   * listed EVSE, or null for a removal. */
  listed: Evse | null;
  /** History entries and the rollup update, written with the device (fleet health). */
  records?: WriteRecords | undefined;
  /** The webhook path's lead this write measures (see `Detection.webhookLeadMs`). */
  webhookLeadMs?: number | undefined;
}

/** Where a sweep stands; saved after every committed page, under the lease. */
export interface SweepCheckpoint {
  sweepId: string;
  startedAt: string;
  /** The `next` link to read; null: the sweep starts at the collection's first page. */
  next: string | null;
  /** The last EVSE id committed in this sweep: the lower bound of the next page's id range. */
  lastId: string | null;
  pages: number;
  evsesSeen: number;
  /** Stored devices a page's id range did not list; removed only when the sweep completes. */
  vanished: string[];
  /** Set when a page's ids did not ascend: range reads can't prove absence, so no removals. */
  unordered: boolean;
  /** The last page is committed; what remains is the removals and a fresh checkpoint. */
  listingComplete: boolean;
  /** Published but maybe not yet written: the next run finishes these first. */
  pending: PendingWrite[];
  /** The fleet tallies of the pages committed so far, and the fleet-wide alert's state. */
  fleet?: FleetProgress | undefined;
}

/** What taking the lease returns: the checkpoint to resume and what earlier runs learned. */
export interface SweepState {
  checkpoint: SweepCheckpoint;
  /** The `X-RateLimit-Limit` an earlier run saw, if any. */
  rateLimitLimit: number | null;
}

export function freshCheckpoint(sweepId: string, startedAt: string): SweepCheckpoint {
  return {
    sweepId,
    startedAt,
    next: null,
    lastId: null,
    pages: 0,
    evsesSeen: 0,
    vanished: [],
    unordered: false,
    listingComplete: false,
    pending: [],
  };
}

export interface BudgetSettings {
  /** Off for benchmarks: the run may spend whatever it needs. */
  enabled: boolean;
  /** Fraction of the rate limit the poll may use per rolling hour (0.8). */
  share: number;
  /** Requests kept back for decommissions sharing the OAuth application (50). */
  reserve: number;
  /** Assumed `X-RateLimit-Limit` until ev.energy says otherwise (1000). */
  defaultLimit: number;
}

/**
 * Whether the run may start another page read, whose worst case (retries and a token exchange
 * included) is `cost` requests:
 * - this run's spending plus the ledger's last rolling hour stays within the share of the limit;
 * - ev.energy's own remaining count, when this run has seen it, keeps the reserve untouched.
 */
export function budgetAllows(
  settings: BudgetSettings,
  usage: {
    ledgerLastHour: number;
    spentThisRun: number;
    limit: number | null;
    remaining: number | null;
    cost: number;
  },
): boolean {
  if (!settings.enabled) return true;
  const share = Math.floor(settings.share * (usage.limit ?? settings.defaultLimit));
  if (usage.ledgerLastHour + usage.spentThisRun + usage.cost > share) return false;
  return usage.remaining === null || usage.remaining - usage.cost >= settings.reserve;
}
