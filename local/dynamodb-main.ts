/**
 * Runs the embedded DynamoDB (dynalite) in its own process with the project's table, for the
 * benchmark:  npx tsx local/dynamodb-main.ts --port 0 --table evse-ops-bench
 * Prints one JSON line `{"endpoint", "tableName"}` when ready; stops on SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { createTable, localDynamoClients, startDynalite } from "./dynamodb.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    table: { type: "string", default: "evse-ops-local" },
  },
});

const dynamo = await startDynalite({ port: Number(values.port) });
const { client } = localDynamoClients(dynamo.endpoint);
await createTable(client, values.table);
client.destroy();
process.stdout.write(`${JSON.stringify({ endpoint: dynamo.endpoint, tableName: values.table })}\n`);

const stop = () => void dynamo.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
