import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { SweepCheckpoint, SweepState } from "../../core/sweep.js";
import { freshCheckpoint } from "../../core/sweep.js";
import type { SweepStore } from "../../ports.js";
import { isConditionalCheckFailed } from "./errors.js";
import { POLL_PARTITION, SWEEP_SORT_KEY } from "./table-design.js";

const KEY = { pk: POLL_PARTITION, sk: SWEEP_SORT_KEY };
const HOLDS_LEASE = "leaseOwner = :owner AND leaseExpiresAt > :now";

/**
 * The lease and the checkpoint share one item, so "save the checkpoint only while holding the
 * lease" is a single conditional write: an overrunning run can never rewind the cursor.
 */
export class DynamoSweepStore implements SweepStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async acquire(owner: string, now: number, leaseMs: number): Promise<SweepState | undefined> {
    try {
      const { Attributes = {} } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: KEY,
          UpdateExpression: "SET leaseOwner = :owner, leaseExpiresAt = :expires",
          ConditionExpression:
            "attribute_not_exists(leaseOwner) OR leaseExpiresAt <= :now OR leaseOwner = :owner",
          ExpressionAttributeValues: { ":owner": owner, ":now": now, ":expires": now + leaseMs },
          ReturnValues: "ALL_NEW",
        }),
      );
      const stored = Attributes.checkpoint as Partial<SweepCheckpoint> | undefined;
      const startedAt = stored?.startedAt ?? new Date(now).toISOString();
      // Fields a checkpoint saved by an older version lacks take their fresh values.
      const checkpoint: SweepCheckpoint = {
        ...freshCheckpoint(stored?.sweepId ?? `${startedAt}/${owner}`, startedAt),
        ...stored,
      };
      return {
        checkpoint,
        rateLimitLimit: (Attributes.rateLimitLimit as number | undefined) ?? null,
      };
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }

  async commit(
    owner: string,
    now: number,
    checkpoint: SweepCheckpoint,
    rateLimitLimit: number | null,
  ): Promise<boolean> {
    return this.updateUnderLease(owner, now, {
      UpdateExpression:
        rateLimitLimit === null
          ? "SET checkpoint = :checkpoint"
          : "SET checkpoint = :checkpoint, rateLimitLimit = :limit",
      ExpressionAttributeValues: {
        ":checkpoint": checkpoint,
        ...(rateLimitLimit === null ? {} : { ":limit": rateLimitLimit }),
      },
    });
  }

  async completeSweep(owner: string, now: number, next: SweepCheckpoint): Promise<boolean> {
    return this.updateUnderLease(owner, now, {
      UpdateExpression:
        "SET checkpoint = :checkpoint, lastCompletedAt = :now_iso ADD completedSweeps :one",
      ExpressionAttributeValues: {
        ":checkpoint": next,
        ":now_iso": new Date(now).toISOString(),
        ":one": 1,
      },
    });
  }

  async release(owner: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: KEY,
          UpdateExpression: "REMOVE leaseOwner, leaseExpiresAt",
          ConditionExpression: "leaseOwner = :owner",
          ExpressionAttributeValues: { ":owner": owner },
        }),
      );
    } catch (error) {
      // Someone else holds it now: nothing of ours to release.
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  private async updateUnderLease(
    owner: string,
    now: number,
    update: { UpdateExpression: string; ExpressionAttributeValues: Record<string, unknown> },
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: KEY,
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: HOLDS_LEASE,
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ":owner": owner,
            ":now": now,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}
