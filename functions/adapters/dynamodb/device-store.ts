import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { DeviceCompletion } from "../../core/decommission/ports.js";
import type { DeviceState } from "../../core/device-state.js";
import type { DeviceStore } from "../../ports.js";
import { isConditionalCheckFailed } from "./errors.js";
import { DEVICE_PARTITION, GSI2, OFFLINE_INDEX_PARTITION } from "./table-design.js";

/** Device items: pk `EVSE`, sk the EVSE id, the state's fields as attributes. */
export class DynamoDeviceStore implements DeviceStore, DeviceCompletion {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async readRange(range: { afterId?: string; throughId?: string }): Promise<DeviceState[]> {
    const { afterId, throughId } = range;
    let keyCondition = "pk = :pk";
    const values: Record<string, unknown> = { ":pk": DEVICE_PARTITION };
    if (afterId !== undefined && throughId !== undefined) {
      // BETWEEN is inclusive at both ends; afterId itself is dropped below.
      keyCondition += " AND sk BETWEEN :after AND :through";
      values[":after"] = afterId;
      values[":through"] = throughId;
    } else if (afterId !== undefined) {
      keyCondition += " AND sk > :after";
      values[":after"] = afterId;
    } else if (throughId !== undefined) {
      keyCondition += " AND sk <= :through";
      values[":through"] = throughId;
    }
    const devices: DeviceState[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: keyCondition,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        if (item.sk !== afterId) devices.push(deviceStateOf(item));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return devices;
  }

  async readAfter(afterId: string | undefined, limit: number) {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: afterId === undefined ? "pk = :pk" : "pk = :pk AND sk > :after",
        ExpressionAttributeValues: {
          ":pk": DEVICE_PARTITION,
          ...(afterId === undefined ? {} : { ":after": afterId }),
        },
        Limit: limit,
      }),
    );
    return {
      devices: (page.Items ?? []).map(deviceStateOf),
      // DynamoDB may stop at the limit with a LastEvaluatedKey even when nothing follows; the
      // caller then reads once more, which is only a cheap empty Query.
      exhausted: page.LastEvaluatedKey === undefined,
    };
  }

  async get(evseId: string): Promise<DeviceState | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: DEVICE_PARTITION, sk: evseId },
        ConsistentRead: true,
      }),
    );
    return Item ? deviceStateOf(Item) : undefined;
  }

  async put(state: DeviceState, expectedVersion: number | undefined, expectedLastSeenAt?: string) {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: DEVICE_PARTITION, sk: state.evseId, ...state, ...offlineIndexKeys(state) },
          ...(expectedVersion === undefined
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : expectedLastSeenAt === undefined
              ? {
                  ConditionExpression: "version = :expected",
                  ExpressionAttributeValues: { ":expected": expectedVersion },
                }
              : {
                  ConditionExpression: "version = :expected AND lastSeenAt = :seen",
                  ExpressionAttributeValues: {
                    ":expected": expectedVersion,
                    ":seen": expectedLastSeenAt,
                  },
                }),
        }),
      );
      return "written" as const;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return "conflict" as const;
      throw error;
    }
  }

  /**
   * One UpdateItem of exactly the attributes in DEVICE_COMPLETION (the executor's IAM policy
   * allows no other), returning nothing.
   */
  async markDecommissioned(evseId: string, at: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: DEVICE_PARTITION, sk: evseId },
          UpdateExpression: "SET lifecycle = :decommissioned, lastChangedAt = :at ADD version :one",
          ConditionExpression: "attribute_exists(pk) AND lifecycle <> :decommissioned",
          ExpressionAttributeValues: { ":decommissioned": "decommissioned", ":at": at, ":one": 1 },
          ReturnValues: "NONE",
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }
}

/**
 * The offline index's keys for an active offline device (its sample time first, normalised so
 * that the strings sort in time order), none for any other: a device leaves the index with the
 * write that brings it back online, removes it or records its decommission.
 */
export function offlineIndexKeys(state: DeviceState): Record<string, string> {
  if (state.lifecycle !== "active" || state.connectivity !== "offline") return {};
  const sampled = state.sampledAt === null ? Number.NaN : Date.parse(state.sampledAt);
  if (Number.isNaN(sampled)) return {};
  return {
    [GSI2.partitionKey]: OFFLINE_INDEX_PARTITION,
    [GSI2.sortKey]: `${new Date(sampled).toISOString()}#${state.evseId}`,
  };
}

/** A device item without its keys (the table's and the offline index's). */
export function deviceStateOf(item: Record<string, unknown>): DeviceState {
  const {
    pk: _pk,
    sk: _sk,
    [GSI2.partitionKey]: _indexPartition,
    [GSI2.sortKey]: _indexSort,
    ...state
  } = item;
  return state as unknown as DeviceState;
}
