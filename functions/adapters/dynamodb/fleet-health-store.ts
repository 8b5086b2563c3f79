import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { addMonths, monthStart } from "../../core/availability.js";
import {
  type HistoryEntry,
  historyEntries,
  type RollupUpdate,
  rollupUpdate,
  type WriteRecords,
} from "../../core/device-history.js";
import type { DeviceState } from "../../core/device-state.js";
import type { FleetSnapshot } from "../../core/fleet-snapshot.js";
import type { FleetHealthStore } from "../../ports.js";
import { isConditionalCheckFailed } from "./errors.js";
import {
  FLEET_PARTITION,
  HISTORY_PREFIX,
  ROLLUP_PREFIX,
  SNAPSHOT_SORT_KEY,
  TTL_ATTRIBUTE,
} from "./table-design.js";

/** Rollups are kept 13 months after their month ends: a trailing 12 months stays readable. */
export const ROLLUP_RETENTION_MONTHS = 13;

/** A history entry's sort key: detection time, then the event (or the decommissioned version). */
export function historySortKey(entry: HistoryEntry): string {
  return `${entry.at}#${entry.eventId ?? `v${entry.state.version}`}`;
}

/** When a month's rollup expires (epoch seconds): 13 months after the month ends. */
export function rollupExpiry(month: string): number {
  return Math.floor(monthStart(addMonths(month, ROLLUP_RETENTION_MONTHS + 1)) / 1000);
}

/**
 * The poll's fleet-health items: history entries (`HIST#<evseId>`), monthly rollups
 * (`AVAIL#<YYYY-MM>` / EVSE id) and the latest snapshot (`FLEET` / `SNAPSHOT`). Each write is
 * one PutItem or UpdateItem, which the poll's role may make and no other.
 */
export class DynamoFleetHealthStore implements FleetHealthStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly settings: { historyRetentionMs: number },
  ) {}

  async record(state: DeviceState, records: WriteRecords): Promise<void> {
    const rollup = rollupUpdate(state, records);
    await Promise.all([
      ...historyEntries(state, records).map((entry) => this.putHistory(entry)),
      ...(rollup ? [this.appendRollup(rollup, state.version)] : []),
    ]);
  }

  /**
   * Only a newer snapshot replaces the stored one: a run that lost its lease and wakes late
   * cannot put back an older sweep's (and the same snapshot written again changes nothing).
   */
  async putSnapshot(snapshot: FleetSnapshot): Promise<void> {
    await unlessSuperseded(
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: FLEET_PARTITION, sk: SNAPSHOT_SORT_KEY, ...snapshot },
          ConditionExpression: "attribute_not_exists(#completed) OR #completed < :completed",
          ExpressionAttributeNames: { "#completed": "completedAt" },
          ExpressionAttributeValues: { ":completed": snapshot.completedAt },
        }),
      ),
    );
  }

  /** Keyed by the change: writing the same entry again (a re-run) replaces it with itself. */
  private async putHistory(entry: HistoryEntry): Promise<void> {
    const expires = Math.floor((Date.parse(entry.at) + this.settings.historyRetentionMs) / 1000);
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: `${HISTORY_PREFIX}${entry.evseId}`,
          sk: historySortKey(entry),
          ...entry,
          [TTL_ATTRIBUTE]: expires,
        },
      }),
    );
  }

  /**
   * One UpdateItem: the month's start state if the item is new, the latest cpid, the expiry,
   * and the transitions appended in order; conditional on the device version that carried them
   * being newer than the last one appended, so that an append from a run that lost its lease
   * and lands late (after a newer run's) never puts an old transition after a newer one, and
   * the same append made again by a re-run changes nothing.
   */
  private async appendRollup(update: RollupUpdate, deviceVersion: number): Promise<void> {
    const appending = update.transitions.length > 0;
    await unlessSuperseded(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `${ROLLUP_PREFIX}${update.month}`, sk: update.evseId },
          UpdateExpression: `SET #start = if_not_exists(#start, :start), #cpid = :cpid, #expires = :expires, #version = :version${
            appending
              ? ", #transitions = list_append(if_not_exists(#transitions, :none), :new)"
              : ""
          }`,
          ConditionExpression: "attribute_not_exists(#version) OR #version < :version",
          ExpressionAttributeNames: {
            "#start": "start",
            "#cpid": "cpid",
            "#expires": TTL_ATTRIBUTE,
            "#version": "deviceVersion",
            ...(appending ? { "#transitions": "transitions" } : {}),
          },
          ExpressionAttributeValues: {
            ":start": update.start,
            ":cpid": update.cpid,
            ":expires": rollupExpiry(update.month),
            ":version": deviceVersion,
            ...(appending ? { ":none": [], ":new": update.transitions } : {}),
          },
        }),
      ),
    );
  }
}

/** A conditional write refused because a newer (or the same) one already landed: done. */
async function unlessSuperseded(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
}
