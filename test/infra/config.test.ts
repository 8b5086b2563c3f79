import { App, RemovalPolicy } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../infra/app.js";
import { ConfigError, loadStageConfig, parseStageConfig } from "../../infra/config.js";
import { committedContext, committedStage, contextFor, type JsonObject } from "./helpers.js";

/** The committed `stages` with one stage's settings changed by `edit`. */
function stagesWith(stage: string, edit: (settings: JsonObject) => void): JsonObject {
  const settings = committedStage(stage);
  edit(settings);
  return { ...(committedContext().stages as JsonObject), [stage]: settings };
}

function section(settings: JsonObject, name: string): JsonObject {
  const value = settings[name];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`committed stage has no ${name} section`);
  }
  return value;
}

describe("stage configuration", () => {
  it("reads the committed dev stage, which is the default", () => {
    const app = new App({ context: { stages: committedContext().stages } });

    const config = loadStageConfig(app);

    expect(config.stage).toBe("dev");
    expect(config.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(config.logRetentionDays).toBe(RetentionDays.TWO_WEEKS);
    expect(config.poll).toEqual({
      scheduleMinutes: 5,
      stalenessMinutes: 15,
      chargeRateThresholdWatts: 500,
      heartbeatMinutes: 60,
      budgetShare: 0.8,
      reserveRequests: 50,
      rateLimitDefault: 1000,
      timeoutSeconds: 240,
    });
    expect(config.evEnergy).toEqual({
      apiBaseUrl: "https://api.ev.energy/v2",
      tokenUrl: "https://api.ev.energy/o/token/",
      readScope: "evse:read",
      writeScope: "evse:write",
    });
    expect(config.secrets).toEqual({
      read: { create: true },
      write: { create: true },
      shareOneSecret: false,
    });
    expect(config.events.source).toBe("evse-ops");
  });

  it("reads the committed prod stage when -c stage=prod", () => {
    const app = new App({ context: contextFor("prod") });

    const config = loadStageConfig(app);

    expect(config.stage).toBe("prod");
    expect(config.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(config.logRetentionDays).toBe(RetentionDays.THREE_MONTHS);
  });

  it("fills every knob with its default when a stage gives only the required two", () => {
    const config = parseStageConfig("qa", {
      qa: { logRetentionDays: 30, removalPolicy: "destroy" },
    });

    expect(config.poll.scheduleMinutes).toBe(5);
    expect(config.poll.timeoutSeconds).toBe(240);
    expect(config.evEnergy.tokenUrl).toBe("https://api.ev.energy/o/token/");
    expect(config.secrets).toEqual({
      read: { create: true },
      write: { create: true },
      shareOneSecret: false,
    });
    expect(config.env).toBeUndefined();
  });

  it("names the unknown stage and the stages cdk.json defines", () => {
    const stages = committedContext().stages;

    expect(() => parseStageConfig("qa", stages)).toThrow(
      'stages.qa: unknown stage "qa" (cdk.json defines: dev, prod)',
    );
    expect(() => buildApp(contextFor("qa"))).toThrow(ConfigError);
  });

  it("says when the stages map is missing from the context", () => {
    expect(() => loadStageConfig(new App())).toThrow(/^stages: missing/);
  });

  it("names the path of a negative number", () => {
    const stages = stagesWith("prod", (settings) => {
      section(settings, "poll").scheduleMinutes = -5;
    });

    expect(() => parseStageConfig("prod", stages)).toThrow(
      "stages.prod.poll.scheduleMinutes: expected a number ≥ 1",
    );
  });

  it("names the path of a value of the wrong type and of a missing required value", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "poll").budgetShare = "most";
      delete settings.removalPolicy;
    });

    const error = (() => {
      try {
        parseStageConfig("dev", stages);
      } catch (caught) {
        return caught;
      }
      throw new Error("expected a ConfigError");
    })();

    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toContain("stages.dev.poll.budgetShare: expected a number above 0");
    expect(String(error)).toContain(
      'stages.dev.removalPolicy: missing: expected "destroy" or "retain"',
    );
  });

  it("rejects a secret spec that neither creates nor imports", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "secrets").read = { create: false };
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      'stages.dev.secrets.read: expected { "create": true } or { "import": "<secret name or ARN>" }',
    );
  });

  it("rejects an imported secret reference that is neither a name nor an ARN", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "secrets").write = { import: "not a secret name!" };
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.secrets.write.import: expected a Secrets Manager secret name or a secret ARN",
    );
  });

  it("rejects a write secret given alongside shareOneSecret", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "secrets").shareOneSecret = true;
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.secrets.write: must be left out when shareOneSecret is true",
    );
  });

  it("accepts only the log retention periods CloudWatch allows", () => {
    const stages = stagesWith("prod", (settings) => {
      settings.logRetentionDays = 100;
    });

    expect(() => parseStageConfig("prod", stages)).toThrow(
      /stages\.prod\.logRetentionDays: expected one of CloudWatch's retention periods in days: 1, 3, 5, 7, 14, 30, 60, 90,/,
    );
  });

  it("rejects a poll timeout that is not shorter than the schedule interval", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "poll").timeoutSeconds = 300;
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.poll.timeoutSeconds: expected less than the schedule interval (poll.scheduleMinutes = 5, i.e. 300 s)",
    );
  });

  it("names a misspelt setting instead of ignoring it", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "poll").scheduleMinute = 10;
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.poll.scheduleMinute: unknown setting",
    );
  });

  it("rejects a plain-http ev.energy URL and a reserved event source", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "evEnergy").apiBaseUrl = "http://api.ev.energy/v2";
      section(settings, "events").source = "aws.evse";
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      /stages\.dev\.evEnergy\.apiBaseUrl: expected an https:\/\/ URL\n\s+stages\.dev\.events\.source: must not start with "aws\."/,
    );
  });
});
