import { randomUUID } from "node:crypto";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
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

/** Revisions whose writer the ledger item remembers (see `write`). */
const WRITER_SLOTS = 8;

/**
 * The webhook ledger: one item, pk `WEBHOOK_LEDGER`, sk `SPENT`, `minutes` and `revision`, and
 * in `writer<revision mod 8>` the id of the write that made each of the last eight revisions.
 */
export class DynamoWebhookLedger implements WebhookLedgerStore {
  readonly #process = randomUUID();
  #writes = 0;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<WebhookLedger> {
    const Item = await this.#item();
    if (!Item) return emptyLedger;
    const minutes = Array.isArray(Item.minutes) ? (Item.minutes as Array<[number, number]>) : [];
    return {
      minutes: minutes.map(([start, requests]) => [Number(start), Number(requests)]),
      revision: Number(Item.revision),
    };
  }

  /**
   * A write whose answer was lost can be applied and then fail its condition when the SDK sends
   * it again; taken as lost, its refunds would be planned and given back a second time. So each
   * write leaves its id in its revision's slot, and a failed condition that finds it there was
   * this write applied.
   */
  async write(next: WebhookLedger, expectedRevision: number): Promise<boolean> {
    this.#writes += 1;
    const writeId = `${this.#process}:${this.#writes}`;
    const slot = `writer${next.revision % WRITER_SLOTS}`;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKey,
          UpdateExpression: "SET minutes = :minutes, revision = :revision, #slot = :writeId",
          ConditionExpression:
            expectedRevision === 0 ? "attribute_not_exists(pk)" : "revision = :expected",
          ExpressionAttributeNames: { "#slot": slot },
          ExpressionAttributeValues: {
            ":minutes": next.minutes,
            ":revision": next.revision,
            ":writeId": writeId,
            ...(expectedRevision === 0 ? {} : { ":expected": expectedRevision }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return (await this.#item())?.[slot] === writeId;
      throw error;
    }
  }

  async #item(): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKey, ConsistentRead: true }),
    );
    return Item;
  }
}

const ledgerKey = { pk: WEBHOOK_LEDGER_PARTITION, sk: WEBHOOK_LEDGER_SORT_KEY };

function claimKey(messageId: string): string {
  return `${WEBHOOK_CLAIM_PREFIX}${messageId}`;
}
