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
      startPaused: true,
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
    expect(config.events).toEqual({ source: "evse-ops", archiveRetentionDays: 7 });
    expect(config.decommission).toEqual({
      approvers: {
        createRole: true,
        identityCenterPermissionSets: [],
        roleArns: [],
        acknowledgeUnpinnedSessionNames: false,
      },
      pendingExpiryDays: 7,
      startPaused: false,
      pauseCacheSeconds: 15,
      idempotencyRetentionHours: 24,
      api: { throttleRatePerSecond: 20, throttleBurst: 40, accountLoggingRole: "create" },
      executor: {
        enabled: false,
        maxConcurrency: 2,
        maxAttempts: 8,
        backoffSeconds: 30,
        maxBackoffSeconds: 900,
        requestTimeoutSeconds: 10,
        maxReceiveCount: 30,
      },
      reconciler: { scheduleMinutes: 5, staleMinutes: 15, republishWindowHours: 24 },
    });
    expect(config.monitoring).toEqual({
      alarmTopic: { create: true },
      noCompleteSweepMinutes: 60,
      rateLimitRemainingThreshold: 100,
      pausedAlarmHours: 24,
    });
  });

  it("reads the committed prod stage when -c stage=prod", () => {
    const app = new App({ context: contextFor("prod") });

    const config = loadStageConfig(app);

    expect(config.stage).toBe("prod");
    expect(config.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(config.logRetentionDays).toBe(RetentionDays.THREE_MONTHS);
    expect(config.events.archiveRetentionDays).toBe(90);
    expect(config.decommission.approvers).toEqual({
      createRole: true,
      identityCenterPermissionSets: [],
      roleArns: [],
      acknowledgeUnpinnedSessionNames: false,
    });
    expect(config.monitoring.noCompleteSweepMinutes).toBe(30);
    // Only prod carries out decommissions.
    expect(config.decommission.executor.enabled).toBe(true);
  });

  it("fills every knob with its default when a stage gives only the required two", () => {
    const config = parseStageConfig("qa", {
      qa: { logRetentionDays: 30, removalPolicy: "destroy" },
    });

    expect(config.poll.scheduleMinutes).toBe(5);
    expect(config.poll.timeoutSeconds).toBe(240);
    // A new stage's poll waits for an operator to start it.
    expect(config.poll.startPaused).toBe(true);
    expect(config.evEnergy.tokenUrl).toBe("https://api.ev.energy/o/token/");
    expect(config.secrets).toEqual({
      read: { create: true },
      write: { create: true },
      shareOneSecret: false,
    });
    expect(config.env).toBeUndefined();
    expect(config.events.archiveRetentionDays).toBe(30);
    expect(config.decommission).toEqual({
      approvers: {
        createRole: true,
        identityCenterPermissionSets: [],
        roleArns: [],
        acknowledgeUnpinnedSessionNames: false,
      },
      pendingExpiryDays: 7,
      startPaused: false,
      pauseCacheSeconds: 15,
      idempotencyRetentionHours: 24,
      api: { throttleRatePerSecond: 20, throttleBurst: 40, accountLoggingRole: "create" },
      executor: {
        enabled: false,
        maxConcurrency: 2,
        maxAttempts: 8,
        backoffSeconds: 30,
        maxBackoffSeconds: 900,
        requestTimeoutSeconds: 10,
        maxReceiveCount: 30,
      },
      reconciler: { scheduleMinutes: 5, staleMinutes: 15, republishWindowHours: 24 },
    });
    expect(config.decommission.allowedAccounts).toBeUndefined();
    expect(config.decommission.organizationId).toBeUndefined();
    expect(config.monitoring).toEqual({
      alarmTopic: { create: true },
      noCompleteSweepMinutes: 30,
      rateLimitRemainingThreshold: 100,
      pausedAlarmHours: 24,
    });
  });

  it("accepts callers from listed accounts and an organisation, an imported alarm topic and an e-mail", () => {
    const stages = stagesWith("prod", (settings) => {
      Object.assign(section(settings, "decommission"), {
        allowedAccounts: ["123456789012", "210987654321"],
        organizationId: "o-a1b2c3d4e5",
      });
      Object.assign(section(settings, "monitoring"), {
        alarmTopic: { import: "arn:aws:sns:eu-west-2:123456789012:ops-alarms" },
        alarmEmail: "ops@example.com",
      });
    });

    const config = parseStageConfig("prod", stages);

    expect(config.decommission.allowedAccounts).toEqual(["123456789012", "210987654321"]);
    expect(config.decommission.organizationId).toBe("o-a1b2c3d4e5");
    expect(config.monitoring.alarmTopic).toEqual({
      import: "arn:aws:sns:eu-west-2:123456789012:ops-alarms",
    });
    expect(config.monitoring.alarmEmail).toBe("ops@example.com");
  });

  it("names the path of every wrong decommission setting", () => {
    const stages = stagesWith("prod", (settings) => {
      Object.assign(section(settings, "decommission"), {
        allowedAccounts: ["12345"],
        organizationId: "acme",
        approvers: { createRole: "yes", identityCenterPermissionSets: ["Approver", "no spaces"] },
        pendingExpiryDays: 0,
        startPaused: "no",
      });
    });

    expect(() => parseStageConfig("prod", stages)).toThrow(
      [
        'Invalid configuration for stage "prod":',
        "stages.prod.decommission.allowedAccounts.0: expected a 12-digit AWS account id",
        "stages.prod.decommission.organizationId: expected an AWS Organizations id such as o-a1b2c3d4e5",
        "stages.prod.decommission.approvers.createRole: expected true or false",
        "stages.prod.decommission.approvers.identityCenterPermissionSets.1: expected an IAM Identity Center permission set name (1–32 characters)",
        "stages.prod.decommission.pendingExpiryDays: expected a number from 1 to 365",
        "stages.prod.decommission.startPaused: expected true or false",
      ].join("\n  "),
    );
  });

  it("names the path of wrong API, executor and reconciler settings", () => {
    const stages = stagesWith("prod", (settings) => {
      const decommission = section(settings, "decommission");
      Object.assign(section(decommission, "api"), { accountLoggingRole: "maybe" });
      Object.assign(section(decommission, "executor"), { enabled: "yes", maxConcurrency: 1 });
    });

    expect(() => parseStageConfig("prod", stages)).toThrow(
      [
        'Invalid configuration for stage "prod":',
        'stages.prod.decommission.api.accountLoggingRole: expected "create" or "existing"',
        "stages.prod.decommission.executor.enabled: expected true or false",
        "stages.prod.decommission.executor.maxConcurrency: expected a number from 2 to 1000",
      ].join("\n  "),
    );
    const crossChecks = stagesWith("prod", (settings) => {
      const decommission = section(settings, "decommission");
      Object.assign(section(decommission, "executor"), {
        maxReceiveCount: 5,
        backoffSeconds: 60,
        maxBackoffSeconds: 30,
      });
      Object.assign(section(decommission, "reconciler"), { staleMinutes: 6 });
    });
    expect(() => parseStageConfig("prod", crossChecks)).toThrow(
      [
        'Invalid configuration for stage "prod":',
        "stages.prod.decommission.executor.maxBackoffSeconds: expected at least executor.backoffSeconds (60)",
        "stages.prod.decommission.executor.maxReceiveCount: expected at least executor.maxAttempts (8): every attempt is a receive",
        "stages.prod.decommission.reconciler.staleMinutes: expected more than the execution queue's visibility timeout (360 s)",
      ].join("\n  "),
    );
  });

  it("rejects a stage without any approver, and an empty list of accounts", () => {
    const stages = stagesWith("dev", (settings) => {
      Object.assign(section(settings, "decommission"), {
        approvers: { createRole: false, identityCenterPermissionSets: [], roleArns: [] },
        allowedAccounts: [],
      });
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      [
        'Invalid configuration for stage "dev":',
        "stages.dev.decommission.allowedAccounts: expected at least one account id (leave the setting out for the deploying account)",
        "stages.dev.decommission.approvers: expected at least one approver source: with createRole false and identityCenterPermissionSets and roleArns empty, nobody could approve a request",
      ].join("\n  "),
    );
  });

  describe("approvers", () => {
    const withApprovers = (approvers: JsonObject) =>
      stagesWith("prod", (settings) => {
        section(settings, "decommission").approvers = approvers;
      });

    it("accepts permission sets, and exact role ARNs with their path once their session names are acknowledged", () => {
      const config = parseStageConfig(
        "prod",
        withApprovers({
          createRole: false,
          identityCenterPermissionSets: ["DecommissionApprover"],
          roleArns: ["arn:aws:iam::210987654321:role/ops/break-glass/approver"],
          acknowledgeUnpinnedSessionNames: true,
        }),
      );

      expect(config.decommission.approvers).toEqual({
        createRole: false,
        identityCenterPermissionSets: ["DecommissionApprover"],
        roleArns: ["arn:aws:iam::210987654321:role/ops/break-glass/approver"],
        acknowledgeUnpinnedSessionNames: true,
      });
    });

    it("refuses role ARNs whose holders choose their session names unless acknowledged, saying why", () => {
      expect(() =>
        parseStageConfig(
          "prod",
          withApprovers({ roleArns: ["arn:aws:iam::123456789012:role/approver"] }),
        ),
      ).toThrow(
        "stages.prod.decommission.approvers.roleArns: requires acknowledgeUnpinnedSessionNames: true: the stack does not control these roles' session names, so a holder of such a role can pick any session name and so approve their own request under another name",
      );
    });

    it("refuses a wildcard account and any wildcard in a role ARN, saying why", () => {
      expect(() =>
        parseStageConfig(
          "prod",
          withApprovers({
            roleArns: [
              "arn:aws:iam::*:role/approver",
              "arn:aws:iam::12345678901?:role/approver",
              "arn:aws:iam::123456789012:role/approver*",
              "arn:aws:iam::123456789012:role/ops/approver-?",
              "arn:aws:iam::123456789012:user/alice",
            ],
            acknowledgeUnpinnedSessionNames: true,
          }),
        ),
      ).toThrow(
        [
          'Invalid configuration for stage "prod":',
          "stages.prod.decommission.approvers.roleArns.0: expected a 12-digit account, not a wildcard: a wildcard account would admit roles of any AWS account",
          "stages.prod.decommission.approvers.roleArns.1: expected a 12-digit account, not a wildcard: a wildcard account would admit roles of any AWS account",
          "stages.prod.decommission.approvers.roleArns.2: expected an exact role ARN without * or ?: a pattern would admit any role whose name matches it, including roles created later by whoever may create roles",
          "stages.prod.decommission.approvers.roleArns.3: expected an exact role ARN without * or ?: a pattern would admit any role whose name matches it, including roles created later by whoever may create roles",
          "stages.prod.decommission.approvers.roleArns.4: expected an IAM role ARN with its path, such as arn:aws:iam::123456789012:role/ops/approver",
        ].join("\n  "),
      );
    });

    it("says that approverPatterns was replaced, and why", () => {
      const stages = stagesWith("dev", (settings) => {
        section(settings, "decommission").approverPatterns = ["arn:aws:iam::*:role/approver*"];
      });

      expect(() => parseStageConfig("dev", stages)).toThrow(
        "stages.dev.decommission.approverPatterns: replaced by decommission.approvers (createRole, identityCenterPermissionSets, roleArns): a role ARN pattern admitted every session of any matching role, whose holder chooses the session name and so could approve their own request under another name",
      );
    });

    it("fails synth itself on a wrong approver setting", () => {
      const stages = stagesWith("dev", (settings) => {
        section(settings, "decommission").approvers = { createRole: false };
      });

      expect(() => buildApp({ ...contextFor("dev"), stages })).toThrow(
        /stages\.dev\.decommission\.approvers: expected at least one approver source/,
      );
    });
  });

  it("names the path of wrong monitoring and archive settings", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "events").archiveRetentionDays = 0;
      Object.assign(section(settings, "monitoring"), {
        alarmTopic: { import: "ops-alarms" },
        alarmEmail: "not an address",
      });
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      [
        'Invalid configuration for stage "dev":',
        "stages.dev.events.archiveRetentionDays: expected a number from 1 to 3650",
        "stages.dev.monitoring.alarmTopic.import: expected an SNS topic ARN",
        "stages.dev.monitoring.alarmEmail: expected an e-mail address",
      ].join("\n  "),
    );
  });

  it("reads the fleet-health settings and names the path of wrong ones", () => {
    const app = new App({ context: { stages: committedContext().stages } });
    expect(loadStageConfig(app).fleetHealth).toEqual({
      historyRetentionDays: 90,
      degradedShare: 0.2,
    });
    const stages = stagesWith("dev", (settings) => {
      Object.assign(section(settings, "fleetHealth"), {
        historyRetentionDays: 0,
        degradedShare: 0,
      });
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      [
        'Invalid configuration for stage "dev":',
        "stages.dev.fleetHealth.historyRetentionDays: expected a number from 1 to 3650",
        "stages.dev.fleetHealth.degradedShare: expected a number above 0 and ≤ 1",
      ].join("\n  "),
    );
  });

  it("rejects a missing-sweep window shorter than two poll intervals", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "monitoring").noCompleteSweepMinutes = 9;
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.monitoring.noCompleteSweepMinutes: expected at least two schedule intervals (2 × poll.scheduleMinutes = 10)",
    );
  });

  it("rejects a rate-limit alarm threshold at or above the assumed limit", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "monitoring").rateLimitRemainingThreshold = 1000;
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.monitoring.rateLimitRemainingThreshold: expected less than poll.rateLimitDefault (1000)",
    );
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

  it("names the path of a poll switch default that is not a boolean", () => {
    const stages = stagesWith("dev", (settings) => {
      section(settings, "poll").startPaused = "yes";
    });

    expect(() => parseStageConfig("dev", stages)).toThrow(
      "stages.dev.poll.startPaused: expected true or false",
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
