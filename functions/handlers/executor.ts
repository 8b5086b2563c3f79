/**
 * The executor, fed by the decommission queue (SQS, ReportBatchItemFailures). A retry verdict
 * moves the message's next delivery to exactly its delay, then reports it failed so SQS
 * redelivers it; the request's `nextAttemptAt` keeps an early redelivery from calling ev.energy.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { KMSClient } from "@aws-sdk/client-kms";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { SqsMessageDelay, sqsClient } from "../adapters/sqs/message-delay.js";
import { loadDecommissionExecutorEnvironment } from "../config.js";
import { createAwsExecutor, executeRecords } from "../decommission-runtime.js";
import { logger, metrics } from "../lib/observability.js";

const config = loadDecommissionExecutorEnvironment(process.env);
const clients = {
  dynamodb: new DynamoDBClient({}),
  eventBridge: new EventBridgeClient({}),
  kms: new KMSClient({}),
};
const executor = createAwsExecutor(config, clients, logger);
const messageDelay = new SqsMessageDelay(sqsClient());

export const handler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const redeliver = await executeRecords(
    event.Records.map((record) => ({
      messageId: record.messageId,
      receiptHandle: record.receiptHandle,
      body: record.body,
      eventSourceARN: record.eventSourceARN,
      receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    })),
    {
      executor,
      delay: (queueArn, receiptHandle, delayMs) =>
        messageDelay.delay(queueArn, receiptHandle, delayMs),
      logger,
      // DecommissionCompleted / DecommissionFailed / DecommissionSkipped / DecommissionRetried,
      // and DecommissionIntegrityViolation for a failure whose approval did not hold up. A
      // request failed because the stage's execution is off is DecommissionExecutionDisabled,
      // not DecommissionFailed: it is deliberate and must not page.
      onVerdict: (verdict) => {
        if (verdict?.kind === "done" && verdict.executionDisabled) {
          metrics.addMetric("DecommissionExecutionDisabled", MetricUnit.Count, 1);
          return;
        }
        const outcome = verdict?.kind === "done" ? verdict.outcome : "retried";
        metrics.addMetric(
          `Decommission${outcome[0]?.toUpperCase()}${outcome.slice(1)}`,
          MetricUnit.Count,
          1,
        );
        if (verdict?.kind === "done" && verdict.integrityViolation) {
          metrics.addMetric("DecommissionIntegrityViolation", MetricUnit.Count, 1);
        }
      },
    },
  );
  return { batchItemFailures: redeliver.map((itemIdentifier) => ({ itemIdentifier })) };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
