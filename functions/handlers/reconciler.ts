/**
 * The reconciler: `handler` runs on a schedule (expiry, lost enqueues, unpublished events);
 * `deadLetterHandler` consumes the executor's dead-letter queue and fails those requests.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import middy from "@middy/core";
import type { SQSEvent } from "aws-lambda";
import { loadDecommissionReconcilerEnvironment } from "../config.js";
import {
  awsDecommissionParts,
  createReconciler,
  parseExecutionMessage,
  reconcilerSettingsFrom,
} from "../decommission-runtime.js";
import { logger, metrics } from "../lib/observability.js";

const config = loadDecommissionReconcilerEnvironment(process.env);
const clients = { dynamodb: new DynamoDBClient({}), eventBridge: new EventBridgeClient({}) };
const reconciler = createReconciler(
  awsDecommissionParts(config, clients, logger),
  reconcilerSettingsFrom(config),
);

export const handler = middy(async () => {
  const summary = await reconciler.run();
  logger.info("reconciler run finished", { summary });
  metrics.addMetric("DecommissionExpired", MetricUnit.Count, summary.expired);
  metrics.addMetric("DecommissionReEnqueued", MetricUnit.Count, summary.reEnqueued);
  metrics.addMetric("DecommissionEventsResent", MetricUnit.Count, summary.republished);
  metrics.addMetric("DecommissionPaused", MetricUnit.Count, summary.paused ? 1 : 0);
  return summary;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));

export const deadLetterHandler = middy(async (event: SQSEvent) => {
  for (const record of event.Records) {
    const message = parseExecutionMessage(record.body);
    // The record's receive count is the DLQ's own, not the executor queue's: not reported.
    const outcome = message ? await reconciler.deadLetter(message) : "unreadable";
    logger.error("execution message dead-lettered", { messageId: record.messageId, outcome });
    metrics.addMetric("DecommissionDeadLettered", MetricUnit.Count, 1);
  }
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
