import { describe, expect, it } from "vitest";
import { ConfigurationError, loadPollEnvironment } from "../../functions/config.js";

const valid = {
  TABLE_NAME: "evse-ops-dev",
  EVENT_BUS_NAME: "evse-ops-dev",
  EVENERGY_API_URL: "https://api.ev.energy/v2",
  EVENERGY_SECRET_ID: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:evse-read",
};

describe("the poll's configuration", () => {
  it("applies the documented defaults", () => {
    expect(loadPollEnvironment(valid)).toMatchObject({
      EVENT_SOURCE: "evse-ops",
      EVENERGY_SCOPE: "evse:read",
      STALENESS_MINUTES: 15,
      CHARGE_RATE_THRESHOLD_WATTS: 500,
      HEARTBEAT_MINUTES: 60,
      BUDGET_SHARE: 0.8,
      RESERVE_REQUESTS: 50,
      RATE_LIMIT_DEFAULT: 1000,
    });
  });

  it("fails at start naming every missing or wrong variable", () => {
    const load = () =>
      loadPollEnvironment({
        ...valid,
        EVENERGY_SECRET_ID: "",
        EVENERGY_API_URL: "not a url",
        BUDGET_SHARE: "1.5",
      });
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(/EVENERGY_SECRET_ID is not set/);
    expect(load).toThrow(
      /EVENERGY_API_URL must be an https URL \(http only to localhost or 127.0.0.1\)/,
    );
    expect(load).toThrow(/BUDGET_SHARE/);
  });
});

describe("the webhook share in the poll's configuration", () => {
  it("gives the poll all of BUDGET_SHARE unless a webhook share is set, and refuses one that leaves none", () => {
    expect(loadPollEnvironment(valid).WEBHOOK_BUDGET_SHARE).toBe(0);
    expect(loadPollEnvironment({ ...valid, WEBHOOK_BUDGET_SHARE: "0.1" })).toMatchObject({
      BUDGET_SHARE: 0.8,
      WEBHOOK_BUDGET_SHARE: 0.1,
    });
    const load = () => loadPollEnvironment({ ...valid, WEBHOOK_BUDGET_SHARE: "0.8" });
    expect(load).toThrow(/WEBHOOK_BUDGET_SHARE must be less than BUDGET_SHARE \(0.8\)/);
  });
});
