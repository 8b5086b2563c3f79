import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { WebhookLedger } from "../../core/webhooks/budget.js";
import { emptyLedger } from "../../core/webhooks/budget.js";
import type { Claim } from "../../core/webhooks/claim.js";
import type { WebhookClaims, WebhookLedgerStore } from "../../core/webhooks/ports.js";
import { isConditionalCheckFailed } from "./errors.js";
import {
  TTL_ATTRIBUTE,
  WEBHOOK_CLAIM_PREFIX,
  WEBHOOK_CLAIM_SORT_KEY,
  WEBHOOK_LEDGER_PARTITION,
  WEBHOOK_LEDGER_SORT_KEY,
} from "./table-design.js";

/**
 * Webhook claims: pk `WEBHOOK#<svix-id>`, sk `CLAIM`, the claim's fields as attributes and its
 * `expiresAt` (epoch seconds) under the TTL attribute. An expired claim is overwritten as if
 * absent: DynamoDB's TTL deletes late, the embedded one never.
 */
export class DynamoWebhookClaims implements WebhookClaims {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: { now(): number },
  ) {}

  async get(messageId: string): Promise<Claim | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: claimKey(messageId), sk: WEBHOOK_CLAIM_SORT_KEY },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...claim } = Item;
    return claim as Claim;
  }

  async put(messageId: string, next: Claim, expectedRevision: number | null): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: claimKey(messageId), sk: WEBHOOK_CLAIM_SORT_KEY, ...next },
          ...(expectedRevision === null
            ? {
                ConditionExpression: "attribute_not_exists(pk) OR #expires <= :now",
                ExpressionAttributeNames: { "#expires": TTL_ATTRIBUTE },
                ExpressionAttributeValues: { ":now": Math.floor(this.clock.now() / 1000) },
              }
            : {
                ConditionExpression: "revision = :expected",
                ExpressionAttributeValues: { ":expected": expectedRevision },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}

/** The webhook ledger: one item, pk `WEBHOOK_LEDGER`, sk `SPENT`, `minutes` and `revision`. */
export class DynamoWebhookLedger implements WebhookLedgerStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<WebhookLedger> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: WEBHOOK_LEDGER_PARTITION, sk: WEBHOOK_LEDGER_SORT_KEY },
        ConsistentRead: true,
      }),
    );
    if (!Item) return emptyLedger;
    const minutes = Array.isArray(Item.minutes) ? (Item.minutes as Array<[number, number]>) : [];
    return {
      minutes: minutes.map(([start, requests]) => [Number(start), Number(requests)]),
      revision: Number(Item.revision),
    };
  }

  async write(next: WebhookLedger, expectedRevision: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: WEBHOOK_LEDGER_PARTITION,
            sk: WEBHOOK_LEDGER_SORT_KEY,
            minutes: next.minutes,
            revision: next.revision,
          },
          ...(expectedRevision === 0
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : {
                ConditionExpression: "revision = :expected",
                ExpressionAttributeValues: { ":expected": expectedRevision },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}

function claimKey(messageId: string): string {
  return `${WEBHOOK_CLAIM_PREFIX}${messageId}`;
}
