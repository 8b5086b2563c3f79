/**
 * The webhook worker, fed by the webhook queue (SQS, ReportBatchItemFailures): each verified
 * webhook refreshes the EVSE it names through the poll's detection and writes. A retry moves
 * the message's next delivery to exactly its delay, then reports it failed so SQS redelivers it.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { EventBridgePublisher } from "../adapters/eventbridge/event-publisher.js";
import { SecretsManagerSecretSource } from "../adapters/secrets/secrets-manager-secret-source.js";
import { SqsMessageDelay, sqsClient } from "../adapters/sqs/message-delay.js";
import { loadWebhookWorkerEnvironment } from "../config.js";
import { systemClock, systemRandom } from "../lib/clock.js";
import { logger, metrics } from "../lib/observability.js";
import { recordWorkerMetrics } from "../lib/webhook-metrics.js";
import { createWebhookWorker, processWebhookRecords } from "../webhook-runtime.js";

const config = loadWebhookWorkerEnvironment(process.env);
const worker = createWebhookWorker({
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
