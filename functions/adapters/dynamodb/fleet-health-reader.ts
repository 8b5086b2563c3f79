import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from "@aws-sdk/lib-dynamodb";
import type { MonthRollup, StateCode, Transition } from "../../core/availability.js";
import { STATE_CODES } from "../../core/availability.js";
import type { Page } from "../../core/decommission/ports.js";
import type { HistoryEntry } from "../../core/device-history.js";
import { EVSE_ID_PATTERN } from "../../core/evse.js";
import type {
  DeviceRollups,
  FleetReader,
  FleetRollupQuery,
  HistoryQuery,
  OfflineDevice,
  OfflineQuery,
} from "../../core/fleet-reports.js";
import type { FleetSnapshot } from "../../core/fleet-snapshot.js";
import { decodeCursor, encodeCursor, exactly } from "./cursor.js";
import {
  DEVICE_PARTITION,
  FLEET_PARTITION,
  GSI2,
  HISTORY_PREFIX,
  OFFLINE_INDEX_PARTITION,
  ROLLUP_PREFIX,
  SNAPSHOT_SORT_KEY,
  TTL_ATTRIBUTE,
} from "./table-design.js";

const HISTORY_SORT_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z#[A-Za-z0-9-]{1,64}$/;
const OFFLINE_SORT_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#evse[A-Z0-9]{26}$/;
/** Sorts after `#` and everything that follows it in a sort key. */
const AFTER_HASH = "$";
/** DynamoDB's BatchGetItem limit. */
const BATCH_GET_LIMIT = 100;

/** The fleet-health items as the API reads them: Query, GetItem and BatchGetItem only. */
export class DynamoFleetReader implements FleetReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async latestSnapshot(): Promise<FleetSnapshot | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: FLEET_PARTITION, sk: SNAPSHOT_SORT_KEY },
      }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...snapshot } = Item;
    return snapshot as FleetSnapshot;
  }

  /**
   * One Query, newest first, over the sort keys between `from` and `to`; entries past their
   * expiry are filtered out by time (DynamoDB's TTL deletes them only eventually, and never in
   * the embedded DynamoDB).
   */
  async history(evseId: string, query: HistoryQuery, now: number): Promise<Page<HistoryEntry>> {
    const pk = `${HISTORY_PREFIX}${evseId}`;
    const listing = `history:${evseId}:${query.scope}`;
    const upTo = `${query.to}${AFTER_HASH}`;
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
        FilterExpression: "#expires > :now",
        ExpressionAttributeNames: { "#expires": TTL_ATTRIBUTE },
        ExpressionAttributeValues: {
          ":pk": pk,
          ":from": query.from,
          ":to": upTo,
          ":now": Math.floor(now / 1000),
        },
        ScanIndexForward: false,
        Limit: query.limit,
        ExclusiveStartKey: query.cursor
          ? decodeCursor(
              query.cursor,
              listing,
              { pk: exactly(pk), sk: HISTORY_SORT_KEY },
              ({ sk = "" }) => sk >= query.from && sk <= upTo,
            )
          : undefined,
      }),
    );
    return {
      items: (page.Items ?? []).map((item) => {
        const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _expires, ...entry } = item;
        return entry as HistoryEntry;
      }),
      nextCursor: page.LastEvaluatedKey ? encodeCursor(listing, page.LastEvaluatedKey) : undefined,
    };
  }

  async deviceRollups(evseId: string, months: readonly string[], now: number) {
    const rollups: MonthRollup[] = [];
    let keys: Array<Record<string, string>> = months
      .slice(0, BATCH_GET_LIMIT)
      .map((month) => ({ pk: `${ROLLUP_PREFIX}${month}`, sk: evseId }));
    while (keys.length > 0) {
      const result = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }),
      );
      for (const item of result.Responses?.[this.tableName] ?? []) {
        const rollup = rollupOf(item, now);
        if (rollup) rollups.push(rollup);
      }
      keys = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Array<
        Record<string, string>
      >;
    }
    return rollups;
  }

  /**
   * A page of devices merged over the window's months (each read in id order from the cursor),
   * up to the first id past which some month has not been read yet; then the supplement month
   * over the page's id range.
   */
  async fleetRollups(query: FleetRollupQuery, now: number): Promise<Page<DeviceRollups>> {
    const listing = `fleet-availability:${query.scope}`;
    const after = query.cursor
      ? decodeCursor(query.cursor, listing, { e: EVSE_ID_PATTERN }).e
      : undefined;
    const reads = await Promise.all(
      query.months.map((month) => this.monthAfter(month, after, query.limit)),
    );
    let bound: string | undefined;
    for (const read of reads) {
      const lastRead = read.items.at(-1)?.sk;
      if (!read.more || lastRead === undefined) continue;
      const id = String(lastRead);
      if (bound === undefined || id < bound) bound = id;
    }
    const byDevice = new Map<string, Record<string, unknown>[]>();
    for (const read of reads) {
      for (const item of read.items) {
        const id = String(item.sk);
        if (bound !== undefined && id > bound) continue;
        byDevice.set(id, [...(byDevice.get(id) ?? []), item]);
      }
    }
    let ids = [...byDevice.keys()].sort();
    let more = bound !== undefined;
    if (ids.length > query.limit) {
      ids = ids.slice(0, query.limit);
      more = true;
    }
    const first = ids[0];
    const last = ids.at(-1);
    if (query.supplement !== undefined && first !== undefined && last !== undefined) {
      for (const item of await this.monthRange(query.supplement, first, last)) {
        const list = byDevice.get(String(item.sk));
        if (list) list.push(item);
      }
    }
    const items = ids.map((evseId) => {
      const rollups = (byDevice.get(evseId) ?? [])
        .map((item) => rollupOf(item, now))
        .filter((rollup): rollup is MonthRollup => rollup !== undefined);
      const cpid = rollups.findLast((rollup) => rollup.cpid !== null)?.cpid ?? null;
      return { evseId, cpid, rollups };
    });
    return {
      items,
      nextCursor: more && last !== undefined ? encodeCursor(listing, { e: last }) : undefined,
    };
  }

  /** One Query of the offline index, oldest sample first, from the cursor. */
  async offline(query: OfflineQuery): Promise<Page<OfflineDevice>> {
    const listing = `silent:${query.scope}`;
    const bound = `${new Date(query.sampledBy).toISOString()}${AFTER_HASH}`;
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: GSI2.name,
        KeyConditionExpression: "#ipk = :offline AND #isk < :bound",
        // The executor's decommission leaves the keys until the poll records it (next sweep).
        FilterExpression: "lifecycle = :active",
        ExpressionAttributeNames: { "#ipk": GSI2.partitionKey, "#isk": GSI2.sortKey },
        ExpressionAttributeValues: {
          ":offline": OFFLINE_INDEX_PARTITION,
          ":bound": bound,
          ":active": "active",
        },
        Limit: query.limit,
        ExclusiveStartKey: query.cursor
          ? decodeCursor(
              query.cursor,
              listing,
              {
                pk: exactly(DEVICE_PARTITION),
                sk: EVSE_ID_PATTERN,
                [GSI2.partitionKey]: exactly(OFFLINE_INDEX_PARTITION),
                [GSI2.sortKey]: OFFLINE_SORT_KEY,
              },
              (key) => (key[GSI2.sortKey] ?? "") < bound,
            )
          : undefined,
      }),
    );
    return {
      items: (page.Items ?? []).map((item) => ({
        evseId: String(item.evseId),
        cpid: (item.cpid as string | null | undefined) ?? null,
        lockMode: (item.lockMode as OfflineDevice["lockMode"] | undefined) ?? null,
        sampledAt: (item.sampledAt as string | null | undefined) ?? null,
        connectivity: item.connectivity as OfflineDevice["connectivity"],
        lifecycle: item.lifecycle as OfflineDevice["lifecycle"],
        firstSeenAt: String(item.firstSeenAt),
        lastChangedAt: String(item.lastChangedAt),
      })),
      nextCursor: page.LastEvaluatedKey ? encodeCursor(listing, page.LastEvaluatedKey) : undefined,
    };
  }

  /**
   * Up to `limit` rollups of `month` after `after`, in id order, and whether more follow (one
   * item more is read to know: a page never ends with an empty next one).
   */
  private async monthAfter(month: string, after: string | undefined, limit: number) {
    const items: Record<string, unknown>[] = [];
    const wanted = limit + 1;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: after === undefined ? "pk = :pk" : "pk = :pk AND sk > :after",
          ExpressionAttributeValues: {
            ":pk": `${ROLLUP_PREFIX}${month}`,
            ...(after === undefined ? {} : { ":after": after }),
          },
          Limit: wanted - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < wanted);
    return { items: items.slice(0, limit), more: items.length > limit };
  }

  /** Every rollup of `month` for ids in [first, last]. */
  private async monthRange(month: string, first: string, last: string) {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :first AND :last",
          ExpressionAttributeValues: {
            ":pk": `${ROLLUP_PREFIX}${month}`,
            ":first": first,
            ":last": last,
          },
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}

/** A rollup item as the core reads it; undefined when expired or not understood. */
function rollupOf(item: Record<string, unknown>, now: number): MonthRollup | undefined {
  const expires = Number(item[TTL_ATTRIBUTE]);
  if (Number.isFinite(expires) && expires * 1000 <= now) return undefined;
  const month = String(item.pk).slice(ROLLUP_PREFIX.length);
  const start = isCode(item.start) ? item.start : "n";
  const transitions: Transition[] = [];
  for (const entry of Array.isArray(item.transitions) ? item.transitions : []) {
    const text = String(entry);
    const code = text.slice(-1);
    const seconds = Number(text.slice(0, -1));
    if (isCode(code) && Number.isFinite(seconds)) transitions.push({ at: seconds * 1000, code });
  }
  return {
    evseId: String(item.sk),
    month,
    cpid: typeof item.cpid === "string" ? item.cpid : null,
    start,
    transitions,
  };
}

function isCode(value: unknown): value is StateCode {
  return typeof value === "string" && (STATE_CODES as readonly string[]).includes(value);
}
