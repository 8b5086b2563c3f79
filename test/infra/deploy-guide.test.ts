/**
 * The deploy guide's shell lines, run as a reader would paste them (bash, with `aws` replaced by
 * a stub that prints its arguments), so that their quoting produces what AWS must receive: the
 * local settings file of step 2, the switch items, the approver's policy.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseStageConfig } from "../../infra/config.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import { LOCAL_SETTINGS_FILE, localSettingsFrom } from "../../infra/local-settings.js";
import { committedContext } from "./helpers.js";

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const folder = mkdtempSync(join(tmpdir(), "evse-ops-guide-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const SHELL = {
  STAGE: "dev",
  AWS_REGION: "eu-west-2",
  ACCOUNT: "123456789012",
  TABLE: "evse-ops-dev-stateful-StateTable-ABC",
  APPROVER_ROLE: "arn:aws:iam::123456789012:role/evse-ops-dev-approver",
  APPROVER_USER: "bob",
};
/** `aws sts get-caller-identity` answers a caller; every other call prints its arguments. */
const STUB =
  'aws() { if [ "$1" = sts ]; then echo arn:aws:iam::123456789012:user/alice; else printf "%s\\0" "$@"; fi; }';

/** Runs `script` in bash as pasted, in `folder`, with the guide's variables set. */
function paste(script: string): string {
  return execFileSync("bash", ["-c", `${STUB}\n${script}`], {
    cwd: folder,
    env: { PATH: process.env.PATH ?? "", ...SHELL },
    encoding: "utf8",
  });
}

/** The value after `flag` in the NUL-separated arguments a stubbed `aws` call printed. */
function argument(printed: string, flag: string): string {
  const args = printed.split("\0");
  const value = args[args.indexOf(flag) + 1];
  if (value === undefined) throw new Error(`no ${flag} in ${args.join(" ")}`);
  return value;
}

/**
 * Each command starting with `prefix`, with its continuation lines, preceded by the variable
 * assignments of its code block above it (those the guide's earlier steps do not set).
 */
function commands(prefix: string): string[] {
  const lines = readme.split("\n");
  const withContinuation = (index: number) => {
    let command = lines[index] ?? "";
    for (let next = index + 1; command.endsWith("\\"); next++) {
      command = `${command}\n${lines[next] ?? ""}`;
    }
    return command;
  };
  const found: string[] = [];
  lines.forEach((line, index) => {
    if (!line.trimStart().startsWith(prefix)) return;
    const assignments: string[] = [];
    for (let above = index - 1; above >= 0 && !lines[above]?.startsWith("```"); above--) {
      const name = /^([A-Z_]+)=/.exec(lines[above] ?? "")?.[1];
      if (name !== undefined && !(name in SHELL)) assignments.unshift(withContinuation(above));
    }
    found.push([...assignments, withContinuation(index)].join("\n"));
  });
  return found;
}

describe("the deploy guide, pasted into bash", () => {
  it("step 2 writes a cdk.context.local.json that is valid over the stage", () => {
    const start = readme.indexOf("cat > cdk.context.local.json <<EOF");
    const end = readme.indexOf("\nEOF\n", start);
    expect(start).toBeGreaterThan(0);
    paste(readme.slice(start, end + 5));

    const written: unknown = JSON.parse(readFileSync(join(folder, LOCAL_SETTINGS_FILE), "utf8"));
    const config = parseStageConfig("dev", committedContext().stages, {
      file: localSettingsFrom(LOCAL_SETTINGS_FILE, written),
    });

    expect(config.env).toEqual({ account: SHELL.ACCOUNT, region: SHELL.AWS_REGION });
    expect(config.monitoring.alarmEmail).toBe("ops@example.com");
  });

  it("starts, pauses and releases the switches with the items the functions read", () => {
    const putItems = commands("aws dynamodb put-item");
    // Step 7, the poll's start and pause, and the decommission switch's pause and release.
    expect(putItems).toHaveLength(5);
    const items = putItems.map((command) => JSON.parse(argument(paste(command), "--item")));
    for (const item of items) {
      expect(item).toMatchObject({ pk: { S: "CONTROL" }, paused: { BOOL: expect.any(Boolean) } });
      expect(["POLL_PAUSE", "DECOMMISSION_PAUSE"]).toContain(item.sk.S);
    }
    const started = items.filter((item) => item.sk.S === "POLL_PAUSE" && !item.paused.BOOL);
    expect(started.length).toBeGreaterThanOrEqual(2);
    for (const item of started) {
      expect(item.changedBy).toEqual({ S: "arn:aws:iam::123456789012:user/alice" });
      expect(item.changedAt.S).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });

  it("step 6 gives the approver's user exactly the right to assume the approver role", () => {
    const [command] = commands("aws iam put-user-policy");
    const printed = paste(command ?? "");

    expect(argument(printed, "--user-name")).toBe("bob");
    expect(JSON.parse(argument(printed, "--policy-document"))).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: SHELL.APPROVER_ROLE }],
    });
  });
});
