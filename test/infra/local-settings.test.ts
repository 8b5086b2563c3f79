/**
 * Per-deployer settings: this checkout's git-ignored cdk.context.local.json merged over
 * cdk.json's stage, `-c stages.<stage>.<path>=<value>` over both, one schema for the result.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { App } from "aws-cdk-lib";
import { afterAll, describe, expect, it } from "vitest";
import { loadStageConfig, parseStageConfig } from "../../infra/config.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import {
  type ContextOverride,
  contextOverrides,
  LOCAL_SETTINGS_FILE,
  LocalSettingsError,
  localSettingsFrom,
  mergePatch,
  readLocalSettings,
} from "../../infra/local-settings.js";
import { committedContext } from "./helpers.js";

const stages = committedContext().stages;
const FILE = "cdk.context.local.json";
const folder = mkdtempSync(join(tmpdir(), "evse-ops-local-settings-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** cdk.json's stages with `local` as this checkout's file. */
function withLocal(stage: string, local: unknown, overrides: ContextOverride[] = []) {
  return parseStageConfig(stage, stages, { file: localSettingsFrom(FILE, local), overrides });
}

function override(path: string, value: string): ContextOverride {
  const [stage = "", ...rest] = path.split(".");
  return { stage, path: rest, value };
}

function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }
  throw new Error("expected it to fail");
}

describe("JSON merge patch (RFC 7396)", () => {
  it("merges objects key by key, replaces lists and other values, and removes on null", () => {
    expect(
      mergePatch(
        { a: { b: 1, c: [1, 2], d: "x" }, e: true },
        { a: { b: 2, c: [3], d: null }, f: "new" },
      ),
    ).toEqual({ a: { b: 2, c: [3] }, e: true, f: "new" });
  });
});

describe("local stage settings", () => {
  it("are merged over the committed stage: what the file sets wins, the rest stays committed", () => {
    const config = withLocal("dev", {
      stages: {
        dev: {
          env: { account: "123456789012", region: "eu-west-2" },
          monitoring: { alarmEmail: "ops@example.com" },
          decommission: {
            allowedAccounts: ["123456789012"],
            approvers: { identityCenterPermissionSets: ["EvseOpsApprover"] },
          },
        },
      },
    });

    expect(config.env).toEqual({ account: "123456789012", region: "eu-west-2" });
    expect(config.monitoring).toMatchObject({
      alarmEmail: "ops@example.com",
      noCompleteSweepMinutes: 60,
    });
    expect(config.decommission.allowedAccounts).toEqual(["123456789012"]);
    // A nested object merges: the committed createRole stays.
    expect(config.decommission.approvers).toMatchObject({
      createRole: true,
      identityCenterPermissionSets: ["EvseOpsApprover"],
    });
    expect(config.poll.scheduleMinutes).toBe(5);
    expect(config.decommission.executor.enabled).toBe(false);
  });

  it("remove a committed setting with null, so that its default applies", () => {
    const config = withLocal("dev", {
      stages: { dev: { secrets: { write: null, shareOneSecret: true } } },
    });
    expect(config.secrets).toEqual({ read: { create: true }, shareOneSecret: true });
  });

  it("apply only to their own stage, and may define a stage cdk.json does not have", () => {
    const local = {
      stages: {
        prod: { monitoring: { alarmEmail: "prod@example.com" } },
        alice: { logRetentionDays: 7, removalPolicy: "destroy", poll: { startPaused: false } },
      },
    };
    expect(withLocal("dev", local).monitoring.alarmEmail).toBeUndefined();
    expect(withLocal("prod", local).monitoring.alarmEmail).toBe("prod@example.com");
    const alice = withLocal("alice", local);
    expect(alice.stage).toBe("alice");
    expect(alice.poll.startPaused).toBe(false);
    expect(failure(() => withLocal("bob", local))).toBe(
      'stages.bob: unknown stage "bob" (cdk.json defines: dev, prod; cdk.context.local.json defines: prod, alice); pick one with -c stage=<name>',
    );
  });

  it("fail synth on an invalid value, naming the local file and the path", () => {
    const message = failure(() =>
      withLocal("prod", {
        stages: { prod: { poll: { startPaused: "no" }, monitoring: { alarmEmail: "ops" } } },
      }),
    );
    expect(message).toBe(
      [
        'Invalid configuration for stage "prod" (cdk.json, with cdk.context.local.json merged over it):',
        "stages.prod.poll.startPaused: expected true or false (set in cdk.context.local.json)",
        "stages.prod.monitoring.alarmEmail: expected an e-mail address (set in cdk.context.local.json)",
      ].join("\n  "),
    );
  });

  it("name the file when a value it removed was required", () => {
    expect(failure(() => withLocal("dev", { stages: { dev: { removalPolicy: null } } }))).toContain(
      'stages.dev.removalPolicy: missing: expected "destroy" or "retain" (set in cdk.context.local.json)',
    );
  });

  it("refuse a file that is not JSON, has other keys or a stage that is not an object, naming it", () => {
    const path = join(folder, "broken.json");
    writeFileSync(path, '{"stages": {"dev": {"poll": }}}');
    expect(() => readLocalSettings(path)).toThrow(LocalSettingsError);
    expect(failure(() => readLocalSettings(path))).toMatch(
      new RegExp(`^${path.replaceAll("/", "\\/")}: not valid JSON \\(`),
    );
    expect(failure(() => localSettingsFrom(FILE, { stage: "prod", stages: {} }))).toBe(
      'cdk.context.local.json: stage: unknown key (the file holds only "stages"; choose the stage with -c stage=<name>)',
    );
    expect(failure(() => localSettingsFrom(FILE, { stages: { dev: 5 } }))).toBe(
      "cdk.context.local.json: stages.dev: expected an object of settings (or null)",
    );
    expect(readLocalSettings(join(folder, "absent.json"))).toBeUndefined();
  });
});

describe("-c stages.<stage>.<path>=<value>", () => {
  it("are read from the context, and win over the local file, which wins over cdk.json", () => {
    const app = new App({
      context: {
        stages,
        stage: "dev",
        "stages.dev.monitoring.alarmEmail": "cli@example.com",
        "stages.dev.poll.scheduleMinutes": "10",
        "stages.prod.poll.scheduleMinutes": "1",
      },
    });
    const path = join(folder, FILE);
    writeFileSync(
      path,
      JSON.stringify({
        stages: {
          dev: { monitoring: { alarmEmail: "file@example.com" }, poll: { budgetShare: 0.5 } },
        },
      }),
    );

    const config = loadStageConfig(app, { localSettingsFile: path });

    expect(config.monitoring.alarmEmail).toBe("cli@example.com");
    expect(config.poll).toMatchObject({
      scheduleMinutes: 10,
      budgetShare: 0.5,
      heartbeatMinutes: 60,
    });
    expect(contextOverrides(app.node.getAllContext())).toHaveLength(3);
  });

  it("read values as JSON when they are JSON, as text otherwise, and a 12-digit account as text", () => {
    const config = parseStageConfig("dev", stages, {
      overrides: [
        override("dev.poll.startPaused", "false"),
        override("dev.decommission.allowedAccounts", '["123456789012", "012345678901"]'),
        override("dev.env.account", "123456789012"),
        override("dev.env.region", "eu-west-2"),
        override("dev.decommission.organizationId", "o-a1b2c3d4e5"),
      ],
    });

    expect(config.poll.startPaused).toBe(false);
    expect(config.decommission.allowedAccounts).toEqual(["123456789012", "012345678901"]);
    expect(config.env).toEqual({ account: "123456789012", region: "eu-west-2" });
    expect(config.decommission.organizationId).toBe("o-a1b2c3d4e5");
  });

  it("name the -c key of a value the schema refuses", () => {
    const message = failure(() =>
      parseStageConfig("dev", stages, {
        overrides: [override("dev.poll.scheduleMinutes", "soon")],
      }),
    );
    expect(message).toContain(
      "stages.dev.poll.scheduleMinutes: expected a number ≥ 1 (set in -c stages.dev.poll.scheduleMinutes)",
    );
  });
});

describe("the CDK app's entry point", () => {
  it("reads cdk.context.local.json from where it runs and fails synth on a bad value with one message, no stack trace", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "evse-ops-synth-"));
    writeFileSync(
      join(cwd, LOCAL_SETTINGS_FILE),
      JSON.stringify({ stages: { dev: { monitoring: { noCompleteSweepMinutes: 5 } } } }),
    );
    const run = promisify(execFile)(
      join(REPO_ROOT, "node_modules", ".bin", "tsx"),
      [join(REPO_ROOT, "infra", "app.ts")],
      {
        cwd,
        // How the CDK CLI hands the app cdk.json's context.
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(committedContext()) },
      },
    );

    const failed = await run.then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    rmSync(cwd, { recursive: true, force: true });

    expect(failed?.code).toBe(1);
    expect(failed?.stderr?.trim()).toBe(
      [
        'Invalid configuration for stage "dev" (cdk.json, with cdk.context.local.json merged over it):',
        "stages.dev.monitoring.noCompleteSweepMinutes: expected at least two schedule intervals (2 × poll.scheduleMinutes = 10) (set in cdk.context.local.json)",
      ].join("\n  "),
    );
  });
});

describe("the README's example of cdk.context.local.json", () => {
  it("is valid over the committed dev stage", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const marker = "<!-- example: cdk.context.local.json -->";
    const start = readme.indexOf(marker);
    expect(start, "the README marks its example").toBeGreaterThan(0);
    const block = /```json\n([\s\S]*?)\n```/.exec(readme.slice(start));
    const example: unknown = JSON.parse(block?.[1] ?? "");

    const config = withLocal("dev", example);

    expect(config.env?.account).toMatch(/^\d{12}$/);
    expect(config.monitoring.alarmEmail).toBeDefined();
  });
});

// The file this checkout's deployer keeps must never be committed.
describe(".gitignore", () => {
  it("ignores cdk.context.local.json", () => {
    const ignored = readFileSync(join(REPO_ROOT, ".gitignore"), "utf8").split("\n");
    expect(ignored).toContain(LOCAL_SETTINGS_FILE);
  });
});
