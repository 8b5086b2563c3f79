import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { firstMissing, lineMatches, readmeSteps } from "../../scripts/check-readme.js";

const README = new URL("../../README.md", import.meta.url);

describe("npm run check:readme's reading of the README", () => {
  it("pairs each shell block with the output block right after it, and only that one", () => {
    const readme = [
      "## Quick start",
      "text",
      "```sh",
      "echo one",
      "```",
      "```text",
      "one",
      "```",
      "```sh",
      "echo two",
      "```",
      "prose between: no output block",
      "```text",
      "two",
      "```",
      "## Elsewhere",
      "```sh",
      "echo never",
      "```",
    ].join("\n");
    expect(readmeSteps(readme, ["## Quick start"])).toEqual([
      { line: 4, commands: "echo one", expected: { line: 7, text: "one" } },
      { line: 10, commands: "echo two" },
    ]);
  });

  it("matches … as anything, ids and times as any of their kind, and lines in order", () => {
    expect(
      lineMatches('{"id":"…","status":"APPROVED",…}', '{"id":"x","status":"APPROVED","a":1}'),
    ).toBe(true);
    expect(lineMatches('{"status":"APPROVED",…}', '{"status":"REJECTED","a":1}')).toBe(false);
    expect(lineMatches("a…b…", "ab")).toBe(true);
    expect(lineMatches("a…a", "a")).toBe(false);
    const output = [
      "noise",
      "08:14:00  EVSE Status Changed        evse01H20P9YVH3M35XPZJCF8DY88Y EO-4B86AE  x",
      '{"id":"dcr_01M8MSYNPK2J4N3DQ26NF7BBV4"}',
    ].join("\n");
    expect(
      firstMissing(
        "23:59:59  EVSE Status Changed        evse01H2EVNQZK51FCM16FXXX97G35 …\n…\n" +
          '{"id":"dcr_01JQC0YXGZ3M5Q7R8S9T0V1W2X"}',
        output,
      ),
    ).toBeUndefined();
    expect(firstMissing('{"id":"dcr_01JQC0YXGZ3M5Q7R8S9T0V1W2X"}\nnoise', output)).toBe("noise");
  });

  it("finds the quick start's and the sandbox section's commands, none with a placeholder or uuidgen", async () => {
    const readme = await readFile(README, "utf8");
    const steps = readmeSteps(readme);
    expect(steps.length).toBeGreaterThan(8);
    expect(steps[0]?.commands).toBe("npm ci && npm start");
    for (const step of steps) {
      expect(step.commands).not.toMatch(/uuidgen|evse01…|dcr_…|<[a-z]+>/);
    }
    // Every sh block anywhere in the README: no uuidgen, no id cut short with an ellipsis.
    for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
      expect(block[1]).not.toMatch(/uuidgen|evse[0-9A-Z]*…|dcr_[0-9A-Z]*…/);
    }
  });
});
