import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type {
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from "../../core/decommission/ports.js";
import { isConditionalCheckFailed } from "./errors.js";
import { IDEMPOTENCY_PREFIX, TTL_ATTRIBUTE } from "./table-design.js";

/**
 * Idempotency keys: pk `IDEMPOTENCY#<caller>`, sk the key. The record carries `expiresAt`
 * (epoch seconds) for DynamoDB TTL; since TTL deletes late (and the embedded DynamoDB never),
 * a record past it is treated as absent by the conditional write that claims a key.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async begin(claim: IdempotencyClaim): Promise<"started" | IdempotencyRecord> {
    const key = keyOf(claim.scope, claim.key);
    const nowSeconds = Math.floor(claim.now / 1000);
    for (let round = 0; round < 3; round++) {
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              state: "in-progress",
              fingerprint: claim.fingerprint,
              owner: claim.owner,
              lockUntil: claim.lockUntil,
              createdAt: new Date(claim.now).toISOString(),
              [TTL_ATTRIBUTE]: Math.ceil(claim.expiresAt / 1000),
            },
            ConditionExpression:
              "attribute_not_exists(pk) OR #ttl < :nowSeconds OR (#state = :inProgress AND lockUntil < :now)",
            ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE, "#state": "state" },
            ExpressionAttributeValues: {
              ":nowSeconds": nowSeconds,
              ":inProgress": "in-progress",
              ":now": claim.now,
            },
          }),
        );
        return "started";
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      const { Item } = await this.db.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      // Released or expired between the two calls: claim again.
      if (!Item) continue;
      const fingerprint = String(Item.fingerprint);
      if (Item.state === "completed") {
        return { state: "completed", fingerprint, response: Item.response as StoredResponse };
      }
      return { state: "in-progress", fingerprint };
    }
    throw new Error("idempotency key keeps changing");
  }

  async complete(
    scope: string,
    key: string,
    owner: string,
    response: StoredResponse,
  ): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keyOf(scope, key),
        UpdateExpression: "SET #state = :completed, #response = :response REMOVE lockUntil",
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#state": "state", "#response": "response", "#owner": "owner" },
        ExpressionAttributeValues: {
          ":completed": "completed",
          ":response": response,
          ":owner": owner,
        },
      }),
    );
  }

  async release(scope: string, key: string, owner: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keyOf(scope, key),
          ConditionExpression: "#owner = :owner AND #state = :inProgress",
          ExpressionAttributeNames: { "#owner": "owner", "#state": "state" },
          ExpressionAttributeValues: { ":owner": owner, ":inProgress": "in-progress" },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }
}

function keyOf(scope: string, key: string) {
  return { pk: IDEMPOTENCY_PREFIX + scope, sk: key };
}
