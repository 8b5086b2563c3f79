import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { RequestLedger } from "../../ports.js";
import { LEDGER_PARTITION } from "./table-design.js";

const MINUTE_MS = 60_000;
/** Kept a day for inspection; DynamoDB TTL deletes them in AWS, reads never look past an hour. */
const RETENTION_SECONDS = 24 * 3600;

/** Requests sent to ev.energy, counted per minute: items pk `LEDGER`, sk `2026-11-24T19:40Z`. */
export class DynamoRequestLedger implements RequestLedger {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async record(count: number, at: number): Promise<void> {
    if (count <= 0) return;
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: LEDGER_PARTITION, sk: minuteKey(at) },
        UpdateExpression: "ADD requests :count SET expiresAt = :expires",
        ExpressionAttributeValues: {
          ":count": count,
          ":expires": Math.floor(at / 1000) + RETENTION_SECONDS,
        },
      }),
    );
  }

  /** Counts whole minutes, so the window is up to a minute longer than asked: the safe side. */
  async countSince(from: number): Promise<number> {
    let total = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: "pk = :pk AND sk >= :from",
          ExpressionAttributeValues: { ":pk": LEDGER_PARTITION, ":from": minuteKey(from) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) total += Number(item.requests ?? 0);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return total;
  }
}

function minuteKey(at: number): string {
  return `${new Date(Math.floor(at / MINUTE_MS) * MINUTE_MS).toISOString().slice(0, 16)}Z`;
}
