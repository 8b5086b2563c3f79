/**
 * The public webhook endpoint over API Gateway's proxy event: the receive use case, and the one
 * place its outcomes become HTTP answers. Every refusal is an RFC 9457 problem; none echoes the
 * body, and none says which check failed beyond "not verified" (nothing to learn for a forger).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { problemResponse, SAFE_HEADERS } from "./api/problems.js";
import {
  type ReceiveOutcome,
  type ReceiverDependencies,
  receiveWebhook,
} from "./core/webhooks/receive.js";
import type { ReceiverVerdict } from "./lib/webhook-metrics.js";

export const WEBHOOK_PATH = "/webhooks/ev-energy";

export interface WebhookReceiverOptions {
  maxBodyBytes: number;
  onVerdict?: (verdict: ReceiverVerdict) => void;
}

export function createWebhookReceiver(deps: ReceiverDependencies, options: WebhookReceiverOptions) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const instance = event.path || WEBHOOK_PATH;
    if (event.httpMethod !== "POST") {
      options.onVerdict?.("rejected");
      return problemResponse(
        405,
        "method-not-allowed",
        "Method not allowed",
        "only POST is accepted here",
        instance,
        {
          headers: { Allow: "POST" },
        },
      );
    }
    const rawBody =
      event.body === null
        ? ""
        : event.isBase64Encoded
          ? Buffer.from(event.body, "base64").toString("utf8")
          : event.body;
    const outcome = await receiveWebhook(
      deps,
      { headers: lowerCased(event.headers), rawBody },
      { maxBodyBytes: options.maxBodyBytes },
    );
    options.onVerdict?.(verdictOf(outcome));
    return answerFor(outcome, instance);
  };
}

function answerFor(outcome: ReceiveOutcome, instance: string): APIGatewayProxyResult {
  switch (outcome.kind) {
    case "queued":
      return {
        statusCode: 200,
        headers: { "Content-Type": "application/json", ...SAFE_HEADERS },
        body: JSON.stringify({ received: outcome.messageId }),
      };
    case "too-large":
      return problemResponse(
        413,
        "payload-too-large",
        "Payload too large",
        `the body must be at most ${outcome.limitBytes} bytes`,
        instance,
      );
    case "unverified":
      return problemResponse(
        401,
        "invalid-signature",
        "Webhook not verified",
        "the svix-id, svix-timestamp and svix-signature headers did not verify this body with a signing secret in force (timestamps more than 5 minutes off are refused)",
        instance,
      );
    case "unavailable":
      return problemResponse(
        503,
        "unavailable",
        "Temporarily unavailable",
        "the webhook could not be accepted now; deliver it again later",
        instance,
        { headers: { "Retry-After": "30" } },
      );
  }
}

function verdictOf(outcome: ReceiveOutcome): ReceiverVerdict {
  if (outcome.kind === "queued") return "verified";
  if (outcome.kind === "too-large") return "too-large";
  if (outcome.kind === "unavailable") return "enqueue-failed";
  return "rejected";
}

function lowerCased(
  headers: APIGatewayProxyEvent["headers"] | null,
): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
}
