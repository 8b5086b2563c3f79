/**
 * ev.energy's webhooks (a REST API of their own, no IAM: Svix signatures are the authentication).
 * Verifies, queues for the worker, answers within Svix's timeout; never logs a body.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { SecretsManagerSigningSecrets } from "../adapters/secrets/webhook-signing-secrets.js";
import { sqsClient } from "../adapters/sqs/message-delay.js";
import { SqsWebhookQueue } from "../adapters/sqs/webhook-queue.js";
import { SvixSignatureVerifier } from "../adapters/svix/signature-verifier.js";
import { loadWebhookReceiverEnvironment } from "../config.js";
import { systemClock } from "../lib/clock.js";
import { logger, metrics } from "../lib/observability.js";
import { recordReceiverMetrics } from "../lib/webhook-metrics.js";
import { createWebhookReceiver } from "../webhook-receiver.js";

const config = loadWebhookReceiverEnvironment(process.env);
const receive = createWebhookReceiver(
  {
    verifier: new SvixSignatureVerifier(logger),
    secrets: new SecretsManagerSigningSecrets(
      config.WEBHOOK_SECRET_ID,
      config.WEBHOOK_SECRET_CACHE_SECONDS,
    ),
    queue: new SqsWebhookQueue(sqsClient(), config.WEBHOOK_QUEUE_URL),
    clock: systemClock,
    logger,
  },
  {
    maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
    onVerdict: (verdict) => recordReceiverMetrics(metrics, verdict),
  },
);

// The receiver answers every request itself (problems included): it never throws.
export const handler = middy((event: APIGatewayProxyEvent) => receive(event))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
