/**
 * The webhook worker, fed by the webhook queue (SQS, ReportBatchItemFailures): each verified
 * webhook refreshes the EVSE it names through the poll's detection and writes. A retry moves
 * the message's next delivery to exactly its delay, then reports it failed so SQS redelivers it.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { SqsMessageDelay, sqsClient } from "../adapters/sqs/message-delay.js";
import { loadWebhookWorkerEnvironment } from "../config.js";
import type { ChangeEvent } from "../core/device-state.js";
import { systemClock } from "../lib/clock.js";
import { logger, metrics } from "../lib/observability.js";
import { recordWorkerMetrics } from "../lib/webhook-metrics.js";
import { createWebhookWorker, processWebhookRecords } from "../webhook-runtime.js";
import { awsObserverParts } from "./aws-observer-parts.js";

const config = loadWebhookWorkerEnvironment(process.env);
const worker = createWebhookWorker({ config, ...awsObserverParts<ChangeEvent>(config) });
const messageDelay = new SqsMessageDelay(sqsClient());

export const handler = middy(async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const redeliver = await processWebhookRecords(event.Records, {
    worker,
    delay: (queueArn, receiptHandle, delayMs) =>
      messageDelay.delay(queueArn, receiptHandle, delayMs),
    logger,
    onResult: (result, message) => recordWorkerMetrics(metrics, result, message, systemClock.now()),
  });
  return { batchItemFailures: redeliver.map((itemIdentifier) => ({ itemIdentifier })) };
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
