/**
 * The webhook path's CloudWatch metrics (EMF through Powertools), named for the dashboard and
 * the alarms: what the receiver saw, and what the worker made of each verified webhook.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { WebhookResult } from "../core/webhooks/handle-webhook.js";
import type { QueuedWebhook } from "../core/webhooks/ports.js";
import type { MetricSink } from "./observability.js";

/** The receiver's verdict on one request. */
export type ReceiverVerdict = "verified" | "rejected" | "too-large" | "enqueue-failed";

export function recordReceiverMetrics(target: MetricSink, verdict: ReceiverVerdict): void {
  target.addMetric("WebhooksReceived", MetricUnit.Count, 1);
  if (verdict === "verified") target.addMetric("WebhooksVerified", MetricUnit.Count, 1);
  else if (verdict === "enqueue-failed")
    target.addMetric("WebhooksEnqueueFailed", MetricUnit.Count, 1);
  else target.addMetric("WebhooksRejected", MetricUnit.Count, 1);
}

/**
 * One worker result: duplicates, refreshes, budget fallbacks (share spent or 429: left to the
 * poll), retries, changes published, and the time from receipt to the change on the bus.
 */
export function recordWorkerMetrics(
  target: MetricSink,
  result: WebhookResult,
  message: QueuedWebhook,
  now: number,
): void {
  const count = (name: string, value = 1) => target.addMetric(name, MetricUnit.Count, value);
  switch (result.outcome) {
    case "duplicate":
      count("WebhookDuplicates");
      return;
    case "budget":
    case "rate-limited":
      count("WebhookBudgetFallbacks");
      return;
    case "retry-later":
      count("WebhookRetries");
      count("WebhookRefreshes");
      return;
    case "refreshed":
    case "not-found":
    case "publish-failed":
    case "contended":
      count("WebhookRefreshes");
      break;
    default:
      count("WebhookNothingToRefresh");
      return;
  }
  count("WebhookChanges", result.events.length);
  if (result.events.length > 0) {
    target.addMetric("WebhookReceiptToBusMs", MetricUnit.Milliseconds, now - message.receivedAt);
  }
}
