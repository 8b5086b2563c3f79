import { describe, expect, it } from "vitest";
import { parseStageConfig } from "../../infra/config.js";
import { committedContext, committedStage, type JsonObject } from "./helpers.js";

function stagesWithWebhooks(webhooks: JsonObject): JsonObject {
  return {
    ...(committedContext().stages as JsonObject),
    dev: { ...committedStage("dev"), webhooks },
  };
}

describe("webhook settings", () => {
  it("default to a tenth of the rate limit for webhooks, out of the poll's share", () => {
    expect(parseStageConfig("dev", committedContext().stages as JsonObject).webhooks).toEqual({
      budgetShare: 0.1,
      throttleRatePerSecond: 20,
      throttleBurst: 40,
      receiverConcurrency: 5,
      workerMaxConcurrency: 2,
      maxBodyBytes: 65_536,
      secretCacheSeconds: 60,
      retryDelaySeconds: 60,
      maxReceiveCount: 5,
      silenceAlarmMinutes: 60,
    });
  });

  it("name the path of wrong values, and refuse a share that leaves the poll nothing", () => {
    expect(() =>
      parseStageConfig("dev", stagesWithWebhooks({ budgetShare: 0.8, receiverConcurrency: 0 })),
    ).toThrow(
      [
        'Invalid configuration for stage "dev":',
        "stages.dev.webhooks.receiverConcurrency: expected a number from 1 to 100",
      ].join("\n  "),
    );
    expect(() => parseStageConfig("dev", stagesWithWebhooks({ budgetShare: 0.8 }))).toThrow(
      "stages.dev.webhooks.budgetShare: expected less than poll.budgetShare (0.8): the poll keeps the difference",
    );
  });
});
