import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import {
  createTable,
  type LocalDynamo,
  localDynamoClients,
  startDynalite,
} from "../../local/dynamodb.js";

/**
 * One embedded DynamoDB per test file, over a real socket; each call of `freshTable` gives a
 * new empty table so tests don't share state.
 */
export function useDynalite() {
  let dynamo: LocalDynamo;
  let clients: ReturnType<typeof localDynamoClients>;
  beforeAll(async () => {
    dynamo = await startDynalite();
    clients = localDynamoClients(dynamo.endpoint);
  });
  afterAll(async () => {
    clients.client.destroy();
    await dynamo.close();
  });
  return {
    get documents() {
      return clients.documents;
    },
    get endpoint() {
      return dynamo.endpoint;
    },
    async freshTable(): Promise<string> {
      const name = `evse-ops-test-${randomUUID()}`;
      await createTable(clients.client, name);
      return name;
    },
  };
}
