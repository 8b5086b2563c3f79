/**
 * The embedded DynamoDB-compatible server (dynalite) on 127.0.0.1, with the project's table.
 * Used by the sandbox, the one-shot poll, tests and the benchmark.
 */
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import dynalite from "dynalite";
import {
  GSI1,
  GSI2,
  OFFLINE_INDEX_ATTRIBUTES,
  TABLE_KEYS,
} from "../functions/adapters/dynamodb/table-design.js";
import { CliError } from "./cli.js";

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/** The embedded DynamoDB cannot use its data folder; the message says why. */
export class LocalDataUnavailable extends CliError {
  override readonly name = "LocalDataUnavailable";
}

/**
 * Opens and closes the LevelDB store dynalite would use at `path`. dynalite opens it lazily and
 * reports a failure (another process holding it, a damaged store) only as "Database is closed",
 * thrown from a callback; this says what happened before the server starts.
 */
async function checkStore(path: string): Promise<void> {
  // The `level` dynalite itself loads, not a copy of our own.
  const { Level } = createRequire(createRequire(import.meta.url).resolve("dynalite"))("level") as {
    Level: new (location: string) => { open(): Promise<void>; close(): Promise<void> };
  };
  const store = new Level(path);
  try {
    await store.open();
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new LocalDataUnavailable(
      /lock/i.test(reason)
        ? `the embedded DynamoDB's data in ${path} is held by another process (${reason})`
        : `the embedded DynamoDB cannot open its data in ${path}: ${reason}`,
    );
  }
  await store.close();
}

/** Starts dynalite; in memory unless `path` names a folder to persist to. */
export async function startDynalite(options: { port?: number; path?: string } = {}) {
  if (options.path) await checkStore(options.path);
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } satisfies LocalDynamo;
}

/** A client for a local endpoint; dynalite accepts any credentials. */
export function localDynamoClients(endpoint: string) {
  const client = new DynamoDBClient({
    endpoint,
    region: "local",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const documents = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  return { client, documents };
}

/** Creates the table with the key design the CDK construct deploys; already there is fine. */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: TABLE_KEYS.partitionKey, AttributeType: "S" },
          { AttributeName: TABLE_KEYS.sortKey, AttributeType: "S" },
          { AttributeName: GSI1.partitionKey, AttributeType: "S" },
          { AttributeName: GSI1.sortKey, AttributeType: "S" },
          { AttributeName: GSI2.partitionKey, AttributeType: "S" },
          { AttributeName: GSI2.sortKey, AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" },
          { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GSI1.name,
            KeySchema: [
              { AttributeName: GSI1.partitionKey, KeyType: "HASH" },
              { AttributeName: GSI1.sortKey, KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "ALL" },
          },
          {
            IndexName: GSI2.name,
            KeySchema: [
              { AttributeName: GSI2.partitionKey, KeyType: "HASH" },
              { AttributeName: GSI2.sortKey, KeyType: "RANGE" },
            ],
            Projection: {
              ProjectionType: "INCLUDE",
              NonKeyAttributes: [...OFFLINE_INDEX_ATTRIBUTES],
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  // dynalite answers CreateTable with CREATING and flips to ACTIVE a tick later.
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === "ACTIVE") {
      // dynalite cannot add an index to a table: one kept from an older version must go.
      if (!(Table.GlobalSecondaryIndexes ?? []).some((index) => index.IndexName === GSI2.name)) {
        throw new Error(
          `table ${tableName} has no ${GSI2.name} (the offline index): it was created by an older evse-ops; start afresh (npm start -- --reset)`,
        );
      }
      return;
    }
    await delay(10);
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
