import type { APIGatewayProxyResult } from "aws-lambda";
import type { Clock } from "../../functions/ports.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { apiOverTable } from "../api/api-harness.js";
import { ARNS } from "../decommission/fixtures.js";
import type { useDynalite } from "../support/dynamo.js";

/** The API handler over a table the poll fills, on the poll's clock; GET as a signed caller. */
export function apiOver(dynamo: ReturnType<typeof useDynalite>, tableName: string, clock: Clock) {
  const { api } = apiOverTable(dynamo, tableName, clock);
  return {
    get(
      path: string,
      query: Record<string, string> = {},
      headers: Array<[string, string]> = [],
    ): Promise<APIGatewayProxyResult> {
      return api(
        proxyEvent({
          method: "GET",
          path,
          query: Object.entries(query),
          headers,
          callerArn: ARNS.requester,
        }),
      );
    },
  };
}

/** The body of a JSON answer, checking its status. */
export function body<T = Record<string, unknown>>(result: APIGatewayProxyResult, status = 200): T {
  if (result.statusCode !== status) {
    throw new Error(`expected ${status}, got ${result.statusCode}: ${result.body}`);
  }
  return JSON.parse(result.body) as T;
}
