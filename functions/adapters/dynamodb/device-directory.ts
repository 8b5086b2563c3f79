import { type DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { DeviceDirectory, Page } from "../../core/decommission/ports.js";
import type { DeviceState, Lifecycle } from "../../core/device-state.js";
import { EVSE_ID_PATTERN } from "../../core/evse.js";
import { decodeCursor, encodeCursor, exactly } from "./cursor.js";
import { deviceStateOf } from "./device-store.js";
import { DEVICE_PARTITION } from "./table-design.js";

/** The poll's device items, a page at a time in id order, for the API's `GET /evses`. */
export class DynamoDeviceDirectory implements DeviceDirectory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async list(query: {
    limit: number;
    cursor?: string | undefined;
    lifecycle?: Lifecycle | undefined;
  }): Promise<Page<DeviceState>> {
    const listing = `evses:${query.lifecycle ?? "*"}`;
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: "pk = :pk",
        ...(query.lifecycle === undefined
          ? { ExpressionAttributeValues: { ":pk": DEVICE_PARTITION } }
          : {
              FilterExpression: "lifecycle = :lifecycle",
              ExpressionAttributeValues: { ":pk": DEVICE_PARTITION, ":lifecycle": query.lifecycle },
            }),
        Limit: query.limit,
        ExclusiveStartKey: query.cursor
          ? decodeCursor(query.cursor, listing, {
              pk: exactly(DEVICE_PARTITION),
              sk: EVSE_ID_PATTERN,
            })
          : undefined,
      }),
    );
    return {
      items: (page.Items ?? []).map(deviceStateOf),
      nextCursor: page.LastEvaluatedKey ? encodeCursor(listing, page.LastEvaluatedKey) : undefined,
    };
  }
}
