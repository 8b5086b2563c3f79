/**
 * The poll Lambda handler as deployed, over the embedded DynamoDB (the AWS SDK reaches it through
 * AWS_ENDPOINT_URL_DYNAMODB): a paused poll answers normally, so the invocation does not fail and
 * neither `poll-errors` nor the on-failure queue sees it; and the metrics it emits keep
 * `poll-no-complete-sweep` quiet while paused, not while the poll runs without completing.
 */
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { PollSummary } from "../../functions/core/poll.js";
import { useDynalite } from "../support/dynamo.js";

// Read when the handler's modules load (imported below, once the environment is set).
const observability = () => import("../../functions/lib/observability.js");

const dynamo = useDynalite();
const saved: Record<string, string | undefined> = {};

function setEnv(variables: Record<string, string>) {
  for (const [name, value] of Object.entries(variables)) {
    if (!(name in saved)) saved[name] = process.env[name];
    process.env[name] = value;
  }
}

afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const context = {
  functionName: "poll",
  functionVersion: "1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-2:111111111111:function:poll",
  memoryLimitInMB: "512",
  awsRequestId: "req-paused",
  logGroupName: "g",
  logStreamName: "s",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 240_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

describe("the poll handler, switched off", () => {
  let tableName: string;

  beforeAll(async () => {
    tableName = await dynamo.freshTable();
    // What infra/constructs/poller.ts sets, with a new deployment's switch (no item yet).
    setEnv({
      AWS_REGION: "eu-west-2",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      TABLE_NAME: tableName,
      EVENT_BUS_NAME: "evse-ops-test",
      // Unreachable: a paused poll must not call ev.energy, Secrets Manager or EventBridge.
      EVENERGY_API_URL: "https://127.0.0.1:9/v2",
      EVENERGY_SECRET_ID: "evse-ops/test/read",
      POLL_START_PAUSED: "true",
      POWERTOOLS_LOG_LEVEL: "SILENT",
    });
  });

  it("returns a paused summary instead of failing the invocation, and emits what keeps the alarms quiet", async () => {
    const poll = await import("../../functions/handlers/poll.js");
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });

    const summary: PollSummary = await poll
      .handler({}, context)
      .finally(() => stdout.mockRestore());

    expect(summary).toMatchObject({ stoppedBecause: "paused", error: null, requests: 0 });
    // The embedded metric format line the logMetrics middleware flushed.
    const emf = written
      .flatMap((chunk) => chunk.split("\n"))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ PollPaused: 1, SweepsCompletedOrPaused: 1, SweepsCompleted: 0 });
  });
});

describe("the poll's metrics", () => {
  const summary = (overrides: Partial<PollSummary>): PollSummary => ({
    runId: "r",
    sweepId: null,
    pages: 0,
    requests: 0,
    evsesSeen: 0,
    droppedItems: 0,
    changes: 0,
    changesByType: {
      "EVSE Discovered": 0,
      "EVSE Status Changed": 0,
      "EVSE Connectivity Changed": 0,
      "EVSE Removed": 0,
    },
    eventsPublished: 0,
    chargingStarts: 0,
    publishFailures: 0,
    writes: 0,
    heartbeats: 0,
    conflicts: 0,
    sweepComplete: false,
    stoppedBecause: null,
    error: null,
    rateLimitLimit: null,
    rateLimitRemaining: null,
    ledgerLastHour: null,
    snapshot: null,
    fleetDegraded: null,
    fleetEvents: 0,
    webhookLeadsMs: [],
    durationMs: 5,
    ...overrides,
  });
  const emitted = async (run: PollSummary) => {
    const { recordPollMetrics } = await observability();
    const values = new Map<string, number>();
    recordPollMetrics({ addMetric: (name, _unit, value) => values.set(name, value) }, run);
    return values;
  };

  it("count a paused run for the missing-sweep alarm, and show it on the switch chart", async () => {
    const paused = await emitted(summary({ stoppedBecause: "paused" }));
    expect(paused.get("PollPaused")).toBe(1);
    expect(paused.get("SweepsCompleted")).toBe(0);
    expect(paused.get("SweepsCompletedOrPaused")).toBe(1);
  });

  it("count the charging starts the poll published, for the webhook-silence alarm", async () => {
    expect((await emitted(summary({ chargingStarts: 3 }))).get("PollChargingStarts")).toBe(3);
  });

  it("give each webhook lead the run measured in seconds, at most 100 of them", async () => {
    const { recordPollMetrics } = await observability();
    const leads = (webhookLeadsMs: number[]) => {
      const values: number[] = [];
      recordPollMetrics(
        {
          addMetric: (name, _unit, value) => {
            if (name === "WebhookLeadSeconds") values.push(value);
          },
        },
        summary({ webhookLeadsMs }),
      );
      return values;
    };
    expect(leads([])).toEqual([]);
    expect(leads([180_000, 1_250])).toEqual([180, 1.3]);
    expect(leads(Array.from({ length: 150 }, () => 60_000))).toHaveLength(100);
  });

  it("count a complete sweep, and nothing for a run that stopped short or failed", async () => {
    expect((await emitted(summary({ sweepComplete: true }))).get("SweepsCompletedOrPaused")).toBe(
      1,
    );
    for (const stoppedBecause of ["budget", "time", "lease-held", "error"] as const) {
      const run = await emitted(summary({ stoppedBecause }));
      expect(run.get("SweepsCompletedOrPaused"), stoppedBecause).toBe(0);
      expect(run.get("PollPaused"), stoppedBecause).toBe(0);
    }
  });
});
