/**
 * Decommission requests in the shared table (key design in table-design.ts):
 * - the request: pk `DCR`, sk its id (time-ordered), gsi1 `DCR_STATUS#<status>` /
 *   `<updatedAt>#<id>` so requests list by status, most recently changed first;
 * - a pointer per request: pk `DCR_EVSE#<evseId>`, sk the request id, to list by EVSE;
 * - the open-request guard: pk `EVSE_OPEN#<evseId>`, sk `GUARD`, naming the open request.
 * Every transition is one conditional UpdateItem on the status and version read, appending to
 * the history with list_append. No transactions (the embedded DynamoDB has none).
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import {
  type DecommissionRequest,
  type ExecutionState,
  REQUEST_ID_PATTERN,
  STATUSES,
  type Status,
} from "../../core/decommission/model.js";
import type {
  DecommissionStore,
  OpenClaim,
  Page,
  RequestQuery,
  RequestUpdate,
} from "../../core/decommission/ports.js";
import { decodeCursor, encodeCursor, exactly } from "./cursor.js";
import { isConditionalCheckFailed } from "./errors.js";
import {
  GSI1,
  OPEN_GUARD_PREFIX,
  OPEN_GUARD_SORT_KEY,
  REQUEST_BY_EVSE_PREFIX,
  REQUEST_PARTITION,
  REQUEST_STATUS_PREFIX,
  TABLE_KEYS,
} from "./table-design.js";

/**
 * `expiresAt` is the table's TTL attribute (epoch seconds): a request's own expiry is stored
 * under another name so DynamoDB can never delete a pending request.
 */
const PENDING_EXPIRY = "pendingExpiresAt";
const ATTRIBUTE_OF: Partial<Record<keyof DecommissionRequest, string>> = {
  expiresAt: PENDING_EXPIRY,
};
const ID = REQUEST_ID_PATTERN;
const GSI_SORT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#dcr_[0-9A-HJKMNP-TV-Z]{26}$/;

export class DynamoDecommissionStore implements DecommissionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(request: DecommissionRequest): Promise<void> {
    // The pointer first: one without its request is skipped by listings, never the reverse.
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: REQUEST_BY_EVSE_PREFIX + request.evseId, sk: request.id },
      }),
    );
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: toItem(request),
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  }

  async get(id: string): Promise<DecommissionRequest | undefined> {
    if (!ID.test(id)) return undefined;
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: REQUEST_PARTITION, sk: id },
        ConsistentRead: true,
      }),
    );
    return Item ? toRequest(Item) : undefined;
  }

  async update(id: string, update: RequestUpdate): Promise<DecommissionRequest | "conflict"> {
    const names: Record<string, string> = {
      "#status": "status",
      "#version": "version",
      "#history": "history",
      "#updatedAt": "updatedAt",
    };
    const values: Record<string, unknown> = {
      ":status": update.status,
      ":expected": update.expectedVersion,
      ":next": update.expectedVersion + 1,
      ":history": update.history,
      ":updatedAt": update.updatedAt,
      ":gsi1pk": REQUEST_STATUS_PREFIX + update.status,
      ":gsi1sk": `${update.updatedAt}#${id}`,
    };
    const sets = [
      "#status = :status",
      "#version = :next",
      "#updatedAt = :updatedAt",
      "#history = list_append(#history, :history)",
      "gsi1pk = :gsi1pk",
      "gsi1sk = :gsi1sk",
    ];
    Object.entries(update.set).forEach(([field, value], index) => {
      names[`#f${index}`] = ATTRIBUTE_OF[field as keyof DecommissionRequest] ?? field;
      values[`:f${index}`] = value;
      sets.push(`#f${index} = :f${index}`);
    });
    const allowed = update.allowedFrom.map((status, index) => {
      values[`:from${index}`] = status;
      return `:from${index}`;
    });
    let condition = `#version = :expected AND #status IN (${allowed.join(", ")})`;
    if (update.unexpiredAt !== undefined) {
      names["#expiresAt"] = PENDING_EXPIRY;
      values[":unexpiredAt"] = update.unexpiredAt;
      condition += " AND #expiresAt > :unexpiredAt";
    }
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: REQUEST_PARTITION, sk: id },
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: "ALL_NEW",
        }),
      );
      if (!Attributes) throw new Error(`UpdateItem on request ${id} returned no attributes`);
      return toRequest(Attributes);
    } catch (error) {
      if (isConditionalCheckFailed(error)) return "conflict";
      throw error;
    }
  }

  async markPublished(id: string, version: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: REQUEST_PARTITION, sk: id },
          UpdateExpression: "SET publishedVersion = :version",
          ConditionExpression: "attribute_exists(pk) AND publishedVersion < :version",
          ExpressionAttributeValues: { ":version": version },
        }),
      );
    } catch (error) {
      // Already recorded as far or further: nothing to do.
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async list(query: RequestQuery): Promise<Page<DecommissionRequest>> {
    if (query.evseId !== undefined) return this.listByEvse(query, query.evseId);
    if (query.status !== undefined) {
      const partition = REQUEST_STATUS_PREFIX + query.status;
      const page = await this.queryPage(`status:${query.status}`, query, {
        index: GSI1.name,
        partitionKey: GSI1.partitionKey,
        partition,
        cursorShape: {
          pk: exactly(REQUEST_PARTITION),
          sk: ID,
          gsi1pk: exactly(partition),
          gsi1sk: GSI_SORT,
        },
      });
      return { items: page.items.map(toRequest), nextCursor: page.nextCursor };
    }
    const page = await this.queryPage("requests", query, {
      partitionKey: TABLE_KEYS.partitionKey,
      partition: REQUEST_PARTITION,
      cursorShape: { pk: exactly(REQUEST_PARTITION), sk: ID },
    });
    return { items: page.items.map(toRequest), nextCursor: page.nextCursor };
  }

  /** Pointers in the EVSE's partition, newest first, then the requests they name. */
  private async listByEvse(query: RequestQuery, evseId: string) {
    const partition = REQUEST_BY_EVSE_PREFIX + evseId;
    const page = await this.queryPage(`evse:${evseId}:${query.status ?? "*"}`, query, {
      partitionKey: TABLE_KEYS.partitionKey,
      partition,
      cursorShape: { pk: exactly(partition), sk: ID },
    });
    const ids = page.items.map((item) => String(item.sk));
    const requests = await this.getMany(ids);
    return {
      items: ids
        .map((id) => requests.get(id))
        .filter((request): request is DecommissionRequest => request !== undefined)
        .filter((request) => query.status === undefined || request.status === query.status),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * One page of a partition (of the table or an index), newest first. The cursor names its
   * listing, so a cursor from one listing is refused by another.
   */
  private async queryPage(
    listing: string,
    query: RequestQuery,
    where: {
      index?: string;
      partitionKey: string;
      partition: string;
      cursorShape: Readonly<Record<string, RegExp>>;
    },
  ): Promise<Page<Record<string, unknown>>> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        ...(where.index ? { IndexName: where.index } : {}),
        KeyConditionExpression: `${where.partitionKey} = :partition`,
        ExpressionAttributeValues: { ":partition": where.partition },
        ScanIndexForward: false,
        Limit: query.limit,
        ExclusiveStartKey: query.cursor
          ? decodeCursor(query.cursor, listing, where.cursorShape)
          : undefined,
      }),
    );
    return {
      items: page.Items ?? [],
      nextCursor: page.LastEvaluatedKey ? encodeCursor(listing, page.LastEvaluatedKey) : undefined,
    };
  }

  private async getMany(ids: string[]): Promise<Map<string, DecommissionRequest>> {
    const found = new Map<string, DecommissionRequest>();
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = ids
        .slice(i, i + 100)
        .map((id) => ({ pk: REQUEST_PARTITION, sk: id }));
      while (keys && keys.length > 0) {
        const answer: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) {
          const request = toRequest(item);
          found.set(request.id, request);
        }
        keys = answer.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  async *inStatus(status: Status, updatedSince?: string): AsyncIterable<DecommissionRequest> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: GSI1.name,
          KeyConditionExpression:
            updatedSince === undefined
              ? "gsi1pk = :gsi1pk"
              : "gsi1pk = :gsi1pk AND gsi1sk >= :since",
          ExpressionAttributeValues: {
            ":gsi1pk": REQUEST_STATUS_PREFIX + status,
            ...(updatedSince === undefined ? {} : { ":since": updatedSince }),
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) yield toRequest(item);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  async claimEvse(evseId: string, requestId: string, now: number): Promise<OpenClaim> {
    for (let round = 0; round < 3; round++) {
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...guardKey(evseId), requestId, claimedAt: now },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
        return { claimed: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      const holder = await this.guard(evseId);
      // Freed between our write and our read: try again.
      if (holder !== undefined) return { claimed: false, ...holder };
    }
    throw new Error(`the open-request guard of ${evseId} keeps changing`);
  }

  async takeOverEvse(evseId: string, from: string, to: string, now: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...guardKey(evseId), requestId: to, claimedAt: now },
          ConditionExpression: "attribute_not_exists(pk) OR requestId = :from",
          ExpressionAttributeValues: { ":from": from },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async releaseEvse(evseId: string, requestId: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: guardKey(evseId),
          ConditionExpression: "requestId = :id",
          ExpressionAttributeValues: { ":id": requestId },
        }),
      );
    } catch (error) {
      // Held by another request (or already free): not ours to release.
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async openRequestFor(evseId: string): Promise<string | undefined> {
    return (await this.guard(evseId))?.holder;
  }

  private async guard(evseId: string) {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: guardKey(evseId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return { holder: String(Item.requestId), claimedAt: Number(Item.claimedAt ?? 0) };
  }
}

function guardKey(evseId: string) {
  return { pk: OPEN_GUARD_PREFIX + evseId, sk: OPEN_GUARD_SORT_KEY };
}

function toItem(request: DecommissionRequest): Record<string, unknown> {
  const { expiresAt, ...rest } = request;
  return {
    pk: REQUEST_PARTITION,
    sk: request.id,
    gsi1pk: REQUEST_STATUS_PREFIX + request.status,
    gsi1sk: `${request.updatedAt}#${request.id}`,
    ...rest,
    pendingExpiresAt: expiresAt,
  };
}

/** The two flags one `deleteSent` replaced. */
interface LegacyExecution {
  outcomeUnknown?: boolean;
  unknownOutcomeSeen?: boolean;
}

function toRequest(item: Record<string, unknown>): DecommissionRequest {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, pendingExpiresAt, ...rest } = item;
  const request = { ...rest, expiresAt: pendingExpiresAt } as unknown as DecommissionRequest;
  if (!STATUSES.includes(request.status)) {
    throw new Error(`request item ${String(item.sk)} has an unknown status`);
  }
  // Items written before approvals were signed and the DELETE flag was one flag.
  request.requestMac ??= null;
  request.approvalMac ??= null;
  request.executableUntil ??= null;
  const execution = request.execution as ExecutionState & LegacyExecution;
  if (execution.deleteSent === undefined) {
    const { outcomeUnknown, unknownOutcomeSeen, ...current } = execution;
    request.execution = {
      ...current,
      deleteSent: outcomeUnknown === true || unknownOutcomeSeen === true,
    };
  }
  return request;
}
