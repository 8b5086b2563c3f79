/**
 * Synthesizes the dev stage (with decommission execution enabled, as a deployer enables it with
 * `-c`) into the rehearsal's own folder with the CDK CLI, exactly as
 * `cdk deploy` would before deploying (cdk.json's app and context, cdk-nag failing synth on an
 * unacknowledged error, the functions bundled by esbuild), and reads back what it wrote.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import type { Template } from "./adjustments.js";

export const STAGE = "dev";
export const STACKS = {
  stateful: `evse-ops-${STAGE}-stateful`,
  stateless: `evse-ops-${STAGE}-stateless`,
} as const;

/** A file asset as the stack's asset manifest lists it. */
export interface FileAsset {
  /** The folder (zip packaging) or file the synth wrote, absolute. */
  readonly path: string;
  readonly packaging: "zip" | "file";
  /** With `${AWS::…}` placeholders, as in the manifest. */
  readonly bucketName: string;
  readonly objectKey: string;
}

export interface SynthesizedStack {
  readonly name: string;
  readonly template: Template;
  readonly assets: readonly FileAsset[];
  /** The SSM parameter the template reads the bootstrap version from, and the least it needs. */
  readonly bootstrap: { readonly parameter: string; readonly version: number };
}

export interface Assembly {
  readonly directory: string;
  readonly stateful: SynthesizedStack;
  readonly stateless: SynthesizedStack;
  /** ev.energy's URLs as the stage configures them (cdk.json). */
  readonly evEnergy: { readonly apiBaseUrl: string; readonly tokenUrl: string };
  /** The `source` of the stage's events (cdk.json). */
  readonly eventSource: string;
}

export async function synthesize(directory: string): Promise<Assembly> {
  const cdk = createRequire(import.meta.url).resolve("aws-cdk/bin/cdk");
  // Decommission execution is off in dev unless a deployer turns it on: the rehearsal does,
  // the way a deployer would, to run the executor end to end.
  const args = [
    cdk,
    "synth",
    "-c",
    `stage=${STAGE}`,
    "-c",
    `stages.${STAGE}.decommission.executor.enabled=true`,
    "--output",
    directory,
    "--quiet",
  ];
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.once("error", reject);
    child.once("exit", resolve);
  });
  if (code !== 0) throw new Error(`cdk synth failed (exit ${code}):\n${output.join("")}`);
  return {
    directory,
    stateful: readStack(directory, STACKS.stateful),
    stateless: readStack(directory, STACKS.stateless),
    ...stageSettings(),
  };
}

/** What the rehearsal needs of the stage's settings in cdk.json, as an operator knows them. */
function stageSettings(): Pick<Assembly, "evEnergy" | "eventSource"> {
  const cdkJson = readJson<{ context?: { stages?: Record<string, unknown> } }>(
    join(REPO_ROOT, "cdk.json"),
  );
  const stage = cdkJson.context?.stages?.[STAGE] as
    | { evEnergy?: { apiBaseUrl?: unknown; tokenUrl?: unknown }; events?: { source?: unknown } }
    | undefined;
  const { apiBaseUrl, tokenUrl } = stage?.evEnergy ?? {};
  const source = stage?.events?.source;
  if (
    typeof apiBaseUrl !== "string" ||
    typeof tokenUrl !== "string" ||
    typeof source !== "string"
  ) {
    throw new Error(
      `cdk.json's stage ${STAGE} names no evEnergy.apiBaseUrl, evEnergy.tokenUrl and events.source`,
    );
  }
  return { evEnergy: { apiBaseUrl, tokenUrl }, eventSource: source };
}

interface Manifest {
  artifacts: Record<
    string,
    {
      properties?: {
        templateFile?: string;
        requiresBootstrapStackVersion?: number;
        bootstrapStackVersionSsmParameter?: string;
      };
    }
  >;
}

interface AssetManifest {
  files: Record<
    string,
    {
      source: { path: string; packaging: "zip" | "file" };
      destinations: Record<string, { bucketName: string; objectKey: string }>;
    }
  >;
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

function readStack(directory: string, name: string): SynthesizedStack {
  const manifest = readJson<Manifest>(join(directory, "manifest.json"));
  const properties = manifest.artifacts[name]?.properties;
  if (properties?.templateFile === undefined) throw new Error(`the synth has no stack ${name}`);
  const assets = readJson<AssetManifest>(join(directory, `${name}.assets.json`));
  return {
    name,
    template: readJson<Template>(join(directory, properties.templateFile)),
    assets: Object.values(assets.files).flatMap((file) =>
      Object.values(file.destinations).map((destination) => ({
        path: join(directory, file.source.path),
        packaging: file.source.packaging,
        bucketName: destination.bucketName,
        objectKey: destination.objectKey,
      })),
    ),
    bootstrap: {
      parameter: properties.bootstrapStackVersionSsmParameter ?? "/cdk-bootstrap/hnb659fds/version",
      version: properties.requiresBootstrapStackVersion ?? 6,
    },
  };
}
