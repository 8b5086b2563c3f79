import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { PauseSwitch } from "../../core/decommission/ports.js";
import type { Clock } from "../../ports.js";
import { CONTROL_PARTITION, PAUSE_SORT_KEY, POLL_PAUSE_SORT_KEY } from "./table-design.js";

export interface PauseSwitchOptions {
  clock: Clock;
  /**
   * Which switch: the item's sort key under `CONTROL`. Default `DECOMMISSION_PAUSE`;
   * `POLL_PAUSE` (POLL_SWITCH) for the poll's.
   */
  sortKey?: string;
  /** How long a read is reused: a flip takes effect within this. */
  cacheMs: number;
  /** The state while the item does not exist yet. */
  pausedWhenUnset: boolean;
}

export interface PauseState {
  paused: boolean;
  changedBy: string | null;
  changedAt: string | null;
  note: string | null;
}

/** The poll's switch: the sort key of its item under `CONTROL`. */
export const POLL_SWITCH = POLL_PAUSE_SORT_KEY;

/**
 * A pause switch as data: the item pk `CONTROL`, sk `DECOMMISSION_PAUSE` (decommission
 * execution) or `POLL_PAUSE` (the scheduled poll), attribute `paused` (boolean). Operators flip
 * it without a deploy (`aws dynamodb put-item`); functions read it with a short cache. While the
 * item does not exist, `pausedWhenUnset` (a stage setting) decides, so a deploy never flips a
 * switch an operator wrote. A failed read throws: nothing proceeds on a switch it could not read.
 */
export class DynamoPauseSwitch implements PauseSwitch {
  #cached: { paused: boolean; readAt: number } | undefined;
  readonly #sortKey: string;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: PauseSwitchOptions,
  ) {
    this.#sortKey = options.sortKey ?? PAUSE_SORT_KEY;
  }

  async isPaused(): Promise<boolean> {
    const now = this.options.clock.now();
    if (this.#cached && now - this.#cached.readAt < this.options.cacheMs) {
      return this.#cached.paused;
    }
    const { paused } = await this.read();
    this.#cached = { paused, readAt: now };
    return paused;
  }

  async read(): Promise<PauseState> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: CONTROL_PARTITION, sk: this.#sortKey },
        ConsistentRead: true,
      }),
    );
    if (!Item) {
      return { paused: this.options.pausedWhenUnset, changedBy: null, changedAt: null, note: null };
    }
    return {
      // Anything but an explicit false keeps it stopped.
      paused: Item.paused !== false,
      changedBy: typeof Item.changedBy === "string" ? Item.changedBy : null,
      changedAt: typeof Item.changedAt === "string" ? Item.changedAt : null,
      note: typeof Item.note === "string" ? Item.note : null,
    };
  }

  async set(paused: boolean, changedBy: string, note?: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: CONTROL_PARTITION,
          sk: this.#sortKey,
          paused,
          changedBy,
          changedAt: new Date(this.options.clock.now()).toISOString(),
          ...(note === undefined ? {} : { note }),
        },
      }),
    );
    this.#cached = undefined;
  }
}
