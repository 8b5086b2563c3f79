/**
 * The executor, fed by the decommission queue (SQS, batch size 1, ReportBatchItemFailures).
 * A retry verdict reports the record as failed so SQS redelivers it after the visibility
 * timeout; the request's `nextAttemptAt` keeps an early redelivery from calling ev.energy.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { loadDecommissionExecutorEnvironment } from "../config.js";
import { createAwsExecutor, parseExecutionMessage } from "../decommission-runtime.js";
import { logger, metrics } from "../lib/observability.js";

const config = loadDecommissionExecutorEnvironment(process.env);
const clients = { dynamodb: new DynamoDBClient({}), eventBridge: new EventBridgeClient({}) };
const executor = createAwsExecutor(config, clients, logger);

export const handler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    const message = parseExecutionMessage(record.body);
    const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 1;
    try {
      // An unreadable message is failed on purpose: it ends in the DLQ, where it is seen.
      const verdict = message ? await executor.execute(message, receiveCount) : undefined;
      logger.info("execution message handled", { messageId: record.messageId, verdict });
      // DecommissionCompleted / DecommissionFailed / DecommissionSkipped / DecommissionRetried
      const outcome = verdict?.kind === "done" ? verdict.outcome : "retried";
      metrics.addMetric(
        `Decommission${outcome[0]?.toUpperCase()}${outcome.slice(1)}`,
        MetricUnit.Count,
        1,
      );
      if (verdict?.kind !== "done") batchItemFailures.push({ itemIdentifier: record.messageId });
    } catch (error) {
      logger.error("execution message failed", { messageId: record.messageId, error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
