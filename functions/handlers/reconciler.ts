/**
 * The reconciler: `handler` runs on a schedule (expiry, lost enqueues, unpublished events);
 * `deadLetterHandler` consumes the executor's dead-letter queue and fails those requests (see
 * `failDeadLettered`).
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { SqsMessageDelay, sqsClient } from "../adapters/sqs/message-delay.js";
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
const messageDelay = new SqsMessageDelay(sqsClient());

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

/**
 * A retry outcome (an executor's lease is live: it may be sending the DELETE now) moves the
 * message's next delivery to the lease's end and reports it failed, so SQS redelivers it then.
 */
export const deadLetterHandler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    const message = parseExecutionMessage(record.body);
    // The record's receive count is the DLQ's own, not the executor queue's: not reported.
    const outcome = message
      ? await reconciler.deadLetter(message)
      : { kind: "ignored" as const, why: "unreadable" };
    if (outcome.kind === "retry") {
      logger.warn("dead-lettered execution waits for a live executor lease", {
        messageId: record.messageId,
        delayMs: outcome.delayMs,
      });
      await messageDelay
        .delay(record.eventSourceARN, record.receiptHandle, outcome.delayMs)
        .catch((error: unknown) =>
          logger.warn("could not delay the retry; the queue's visibility timeout applies", {
            messageId: record.messageId,
            error: error instanceof Error ? error.name : String(error),
          }),
        );
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    logger.error("execution message dead-lettered", { messageId: record.messageId, outcome });
    metrics.addMetric("DecommissionDeadLettered", MetricUnit.Count, 1);
  }
  return { batchItemFailures };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
