/**
 * One Node.js major everywhere: what the tests run on is what the functions run on. The local
 * Node.js comes from the `node` dev dependency (npm scripts find its binary first).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLE_TARGET,
  LAMBDA_RUNTIME,
  LambdaFunction,
  REPO_ROOT,
} from "../../infra/constructs/lambda-function.js";
import {
  isObject,
  type Json,
  logicalId,
  properties,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

declare module "vitest" {
  interface TaskMeta {
    /** `process.version` of the process the tests ran in; .ci/run prints it. */
    nodeVersion?: string;
  }
}

const localMajor = process.versions.node.split(".")[0];

describe("the Node.js major", () => {
  let stage: SynthesisedStage;

  beforeAll(() => {
    stage = synthStage("dev");
  });

  afterAll(() => {
    stage?.cleanUp();
  });

  it("the tests run on is the Lambda runtime's", ({ task }) => {
    task.meta.nodeVersion = process.version;
    expect(LAMBDA_RUNTIME.name).toBe(`nodejs${localMajor}.x`);
  });

  it("is the esbuild target of the bundles", () => {
    expect(BUNDLE_TARGET).toBe(`node${localMajor}`);
  });

  it("is the runtime of every function in the synthesized templates", () => {
    const stacks = [
      { stack: stage.stateful, template: stage.statefulTemplate },
      { stack: stage.stateless, template: stage.statelessTemplate },
    ];
    let checked = 0;
    for (const { stack, template } of stacks) {
      const resources: Json = template.toJSON().Resources;
      for (const fn of stack.node.findAll()) {
        if (!(fn instanceof LambdaFunction)) continue;
        const resource = isObject(resources) ? resources[logicalId(fn.function)] : undefined;
        if (!isObject(resource)) throw new Error(`${fn.node.path} is not in its template`);
        expect(properties(resource).Runtime, fn.node.path).toBe(`nodejs${localMajor}.x`);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("is the one the node dev dependency and .nvmrc pin", () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
    expect(manifest.devDependencies.node).toMatch(new RegExp(`^${localMajor}\\.\\d+\\.\\d+$`));
    expect(readFileSync(join(REPO_ROOT, ".nvmrc"), "utf8").trim()).toBe(localMajor);
  });
});
