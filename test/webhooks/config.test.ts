import { describe, expect, it } from "vitest";
import {
  ConfigurationError,
  loadWebhookReceiverEnvironment,
  loadWebhookWorkerEnvironment,
} from "../../functions/config.js";

const worker = {
  TABLE_NAME: "evse-ops-dev",
  EVENT_BUS_NAME: "evse-ops-dev",
  EVENERGY_API_URL: "https://api.ev.energy/v2",
  EVENERGY_SECRET_ID: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:evse-read",
  WEBHOOK_BUDGET_SHARE: "0.1",
};

describe("the webhook functions' configuration", () => {
  it("applies the worker's defaults", () => {
    expect(loadWebhookWorkerEnvironment(worker)).toMatchObject({
      BUDGET_SHARE: 0.8,
      WEBHOOK_BUDGET_SHARE: 0.1,
      WEBHOOK_RETRY_DELAY_SECONDS: 60,
      WEBHOOK_CLAIM_LEASE_SECONDS: 120,
      EVENERGY_SCOPE: "evse:read",
    });
  });

  it("fails at start naming a missing share, or one that leaves the poll nothing", () => {
    const { WEBHOOK_BUDGET_SHARE: _share, ...withoutShare } = worker;
    expect(() => loadWebhookWorkerEnvironment(withoutShare)).toThrow(
      /WEBHOOK_BUDGET_SHARE is not set/,
    );
    const greedy = () => loadWebhookWorkerEnvironment({ ...worker, WEBHOOK_BUDGET_SHARE: "0.9" });
    expect(greedy).toThrow(ConfigurationError);
    expect(greedy).toThrow(/WEBHOOK_BUDGET_SHARE must be less than BUDGET_SHARE/);
  });

  it("fails at start naming the receiver's missing secret and queue, and a tiny body limit", () => {
    const load = () => loadWebhookReceiverEnvironment({ WEBHOOK_MAX_BODY_BYTES: "10" });
    expect(load).toThrow(/WEBHOOK_SECRET_ID is not set/);
    expect(load).toThrow(/WEBHOOK_QUEUE_URL is not set/);
    expect(load).toThrow(/WEBHOOK_MAX_BODY_BYTES must be at least 1024/);
    expect(
      loadWebhookReceiverEnvironment({ WEBHOOK_SECRET_ID: "s", WEBHOOK_QUEUE_URL: "q" }),
    ).toMatchObject({ WEBHOOK_SECRET_CACHE_SECONDS: 60, WEBHOOK_MAX_BODY_BYTES: 65_536 });
  });
});
