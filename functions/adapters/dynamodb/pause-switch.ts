import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { PauseSwitch } from "../../core/decommission/ports.js";
import type { Clock } from "../../ports.js";
import { CONTROL_PARTITION, PAUSE_SORT_KEY } from "./table-design.js";

export interface PauseSwitchOptions {
  clock: Clock;
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

/**
 * The decommission pause switch: the item pk `CONTROL`, sk `DECOMMISSION_PAUSE`, attribute
 * `paused` (boolean). Operators flip it without a deploy (`aws dynamodb put-item`, or the CLI);
 * functions read it with a short cache. A failed read throws: execution never proceeds on a
 * switch it could not read.
 */
export class DynamoPauseSwitch implements PauseSwitch {
  #cached: { paused: boolean; readAt: number } | undefined;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: PauseSwitchOptions,
  ) {}

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
        Key: { pk: CONTROL_PARTITION, sk: PAUSE_SORT_KEY },
        ConsistentRead: true,
      }),
    );
    if (!Item) {
      return { paused: this.options.pausedWhenUnset, changedBy: null, changedAt: null, note: null };
    }
    return {
      // Anything but an explicit false keeps execution stopped.
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
          sk: PAUSE_SORT_KEY,
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
