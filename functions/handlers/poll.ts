/**
 * The scheduled poll: one run of the sweep per EventBridge Scheduler invocation.
 */

import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { EventBridgePublisher } from "../adapters/eventbridge/event-publisher.js";
import { SecretsManagerSecretSource } from "../adapters/secrets/secrets-manager-secret-source.js";
import { loadPollEnvironment } from "../config.js";
import { systemClock, systemRandom } from "../lib/clock.js";
import { logger, metrics, recordPollMetrics } from "../lib/observability.js";
import { createPoller, pollFailed } from "../poll-runtime.js";

const config = loadPollEnvironment(process.env);
const poller = createPoller({
  config,
  secrets: new SecretsManagerSecretSource({ secretId: config.EVENERGY_SECRET_ID }),
  documents: DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }),
  publisher: new EventBridgePublisher({
    client: new EventBridgeClient({}),
    busName: config.EVENT_BUS_NAME,
    source: config.EVENT_SOURCE,
    clock: systemClock,
    random: systemRandom,
    logger,
  }),
  clock: systemClock,
  random: systemRandom,
  logger,
});

/** Leaves this much of the Lambda's time for the summary, the ledger and releasing the lease. */
const SHUTDOWN_MARGIN_MS = 10_000;

export const handler = middy(async (_event: unknown, context: Context) => {
  const summary = await poller.poll({
    runId: context.awsRequestId,
    timeLimitMs: context.getRemainingTimeInMillis() - SHUTDOWN_MARGIN_MS,
  });
  logger.info("poll run finished", { summary });
  recordPollMetrics(metrics, summary);
  // A failed run must fail the invocation: it lands on the on-failure destination and alarms.
  if (pollFailed(summary)) throw new Error(`poll run failed: ${summary.error ?? "unknown error"}`);
  return summary;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
