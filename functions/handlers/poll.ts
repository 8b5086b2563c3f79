/**
 * The scheduled poll: one run of the sweep per EventBridge Scheduler invocation.
 */

import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { loadPollEnvironment } from "../config.js";
import type { ChangeEvent } from "../core/device-state.js";
import type { FleetEvent } from "../core/fleet-alert.js";
import { logger, metrics, recordPollMetrics } from "../lib/observability.js";
import { createPoller, pollFailed } from "../poll-runtime.js";
import { awsObserverParts } from "./aws-observer-parts.js";

const config = loadPollEnvironment(process.env);
const poller = createPoller({ config, ...awsObserverParts<ChangeEvent | FleetEvent>(config) });

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
