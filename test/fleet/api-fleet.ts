import type { APIGatewayProxyResult } from "aws-lambda";
import type { DecommissionEvent } from "../../functions/core/decommission/model.js";
import { createDecommissionApi } from "../../functions/decommission-runtime.js";
import type { Clock } from "../../functions/ports.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { LocalExecutionQueue } from "../../local/execution-queue.js";
import { seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { ARNS, SANDBOX_APPROVERS, TEST_APPROVALS } from "../decommission/fixtures.js";
import type { useDynalite } from "../support/dynamo.js";
import { silentLogger } from "../support/poll-harness.js";

/** The API handler over a table the poll fills, on the poll's clock; GET as a signed caller. */
export function apiOver(dynamo: ReturnType<typeof useDynalite>, tableName: string, clock: Clock) {
  const api = createDecommissionApi(
    {
      documents: dynamo.documents,
      tableName,
      publisher: new RecordingPublisher<DecommissionEvent>(),
      queue: new LocalExecutionQueue({ clock }),
      clock,
      random: seededRandom(1),
      logger: silentLogger,
      pauseCacheMs: 0,
      signer: TEST_APPROVALS,
    },
    {
      approverPatterns: SANDBOX_APPROVERS,
      pendingExpiryMs: 7 * 86_400_000,
      idempotencyRetentionMs: 86_400_000,
    },
  );
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
