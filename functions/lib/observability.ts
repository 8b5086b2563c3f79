/**
 * One logger and one metrics emitter per Lambda process, configured by Powertools' own
 * environment variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, …).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { FleetSnapshot } from "../core/fleet-snapshot.js";
import type { PollSummary } from "../core/poll.js";

// Each function's POWERTOOLS_SERVICE_NAME (set by the function construct) names its `service`
// dimension, which the alarms and dashboard select on; "evse-ops" only where it is unset.
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? "evse-ops";
export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "EvseOps",
  serviceName,
});

/** Where metrics go: Powertools' Metrics, or a test's recorder. */
export interface MetricSink {
  addMetric(
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
  ): unknown;
}

/** The run summary as CloudWatch metrics (EMF), for the dashboard and alarms. */
export function recordPollMetrics(target: MetricSink, summary: PollSummary): void {
  target.addMetric("PollPages", MetricUnit.Count, summary.pages);
  target.addMetric("PollRequests", MetricUnit.Count, summary.requests);
  target.addMetric("EvsesSeen", MetricUnit.Count, summary.evsesSeen);
  target.addMetric("DroppedItems", MetricUnit.Count, summary.droppedItems);
  target.addMetric("Changes", MetricUnit.Count, summary.changes);
  target.addMetric("Discovered", MetricUnit.Count, summary.changesByType["EVSE Discovered"]);
  target.addMetric("StatusChanged", MetricUnit.Count, summary.changesByType["EVSE Status Changed"]);
  target.addMetric(
    "ConnectivityChanged",
    MetricUnit.Count,
    summary.changesByType["EVSE Connectivity Changed"],
  );
  target.addMetric("Removed", MetricUnit.Count, summary.changesByType["EVSE Removed"]);
  target.addMetric("DeviceWrites", MetricUnit.Count, summary.writes);
  target.addMetric("PollChargingStarts", MetricUnit.Count, summary.chargingStarts);
  // One value per change the webhook path published first (EMF keeps up to 100 values of a
  // metric per document: a run's first 100 stand for it).
  for (const lead of summary.webhookLeadsMs.slice(0, 100)) {
    target.addMetric("WebhookLeadSeconds", MetricUnit.Seconds, Math.round(lead / 100) / 10);
  }
  target.addMetric("PublishFailures", MetricUnit.Count, summary.publishFailures);
  target.addMetric("SweepsCompleted", MetricUnit.Count, summary.sweepComplete ? 1 : 0);
  // The poll switch (1 while paused), for the dashboard; and what `poll-no-complete-sweep`
  // watches: a run that completed a sweep or was deliberately paused, so that a paused poll
  // does not alarm while one that runs and never completes (or never runs) still does.
  const paused = summary.stoppedBecause === "paused";
  target.addMetric("PollPaused", MetricUnit.Count, paused ? 1 : 0);
  target.addMetric(
    "SweepsCompletedOrPaused",
    MetricUnit.Count,
    summary.sweepComplete || paused ? 1 : 0,
  );
  target.addMetric("PollDuration", MetricUnit.Milliseconds, summary.durationMs);
  target.addMetric(
    "PollRateLimited",
    MetricUnit.Count,
    summary.stoppedBecause === "rate-limited" ? 1 : 0,
  );
  if (summary.rateLimitRemaining !== null) {
    target.addMetric("RateLimitRemaining", MetricUnit.Count, summary.rateLimitRemaining);
  }
  if (summary.ledgerLastHour !== null) {
    target.addMetric("LedgerRequestsLastHour", MetricUnit.Count, summary.ledgerLastHour);
  }
  recordFleetMetrics(target, summary);
}

/** Each fleet snapshot metric: emitted by the run that completes a sweep, with that sweep's counts. */
export const FLEET_METRICS = {
  FleetActive: (s) => s.devices.active,
  FleetOnline: (s) => s.devices.online,
  FleetOffline: (s) => s.devices.offline,
  FleetUnknown: (s) => s.devices.unknown,
  FleetRemoved: (s) => s.lifecycle.removed,
  FleetDecommissioned: (s) => s.lifecycle.decommissioned,
  FleetPluggedIn: (s) => s.pluggedIn,
  FleetCharging: (s) => s.charging,
  FleetChargePowerWatts: (s) => s.chargePowerWatts,
  FleetExportPowerWatts: (s) => s.exportPowerWatts,
  FleetLockUnlocked: (s) => s.lockMode.UNLOCKED,
  FleetLockSmart: (s) => s.lockMode.SMART,
  FleetLockLocked: (s) => s.lockMode.LOCKED,
  FleetLockNone: (s) => s.lockMode.none,
  FleetNewlyOffline: (s) => s.newlyOffline,
} satisfies Record<string, (snapshot: FleetSnapshot) => number>;

/**
 * The fleet snapshot (when this run completed a sweep) and, every run that held the lease,
 * whether the fleet is degraded (1) or not (0): the degraded alarm watches the latter.
 */
export function recordFleetMetrics(target: MetricSink, summary: PollSummary): void {
  const { snapshot } = summary;
  if (snapshot !== null) {
    for (const [name, value] of Object.entries(FLEET_METRICS)) {
      const unit = name.endsWith("Watts") ? MetricUnit.NoUnit : MetricUnit.Count;
      target.addMetric(name, unit, value(snapshot));
    }
  }
  if (summary.fleetDegraded !== null) {
    target.addMetric("FleetConnectivityDegraded", MetricUnit.Count, summary.fleetDegraded ? 1 : 0);
  }
}
