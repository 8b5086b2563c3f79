/**
 * Deploys the synthesized stacks to the emulator with CloudFormation API calls (`cdk deploy`
 * against moto reported a broken stack as deployed): what `cdk bootstrap` would have left (the
 * bootstrap version parameter, the asset bucket), the assets, the resources the adjustments
 * move out of CloudFormation, then each stack with its adjusted template.
 *
 * Fails when a stack does not reach CREATE_COMPLETE, and when the resource types moto skipped
 * differ from EXPECTED_SKIPPED_TYPES.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from "@aws-sdk/client-cloudformation";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { zipSync } from "fflate";
import {
  type Adjustment,
  adjust,
  type CreatedResource,
  EXPECTED_SKIPPED_TYPES,
  isObject,
  type JsonObject,
  type OutOfBandResource,
  type Pseudo,
  STATEFUL_ADJUSTMENTS,
  STATELESS_ADJUSTMENTS,
  skippedTypes,
  type Template,
} from "./adjustments.js";
import { EMULATED, type Moto } from "./moto.js";
import type { Assembly, FileAsset, SynthesizedStack } from "./synth.js";

export interface DeployedStack {
  readonly name: string;
  /** The template as deployed, after the adjustments. */
  readonly template: Template;
  readonly outputs: Readonly<Record<string, string>>;
  /** Physical ids of the resources moto created, by logical id. */
  readonly physicalIds: Readonly<Record<string, string>>;
  readonly skippedTypes: readonly string[];
}

export interface Deployment {
  readonly stateful: DeployedStack;
  readonly stateless: DeployedStack;
  /** Secrets and keys the adjustments moved out of CloudFormation, by logical id. */
  readonly created: Readonly<Record<string, CreatedResource>>;
  /** The names of the adjustments applied, each with its reason. */
  readonly adjustments: ReadonlyArray<{ name: string; reason: string }>;
  readonly assetBucket: string;
}

const PSEUDO: Pseudo = EMULATED;

/** Fills an asset manifest's `${AWS::AccountId}`-style placeholders. */
export function resolvePlaceholders(text: string, pseudo: Pseudo = PSEUDO): string {
  const values: Record<string, string> = {
    AccountId: pseudo.account,
    Region: pseudo.region,
    Partition: pseudo.partition,
  };
  return text.replace(/\$\{AWS::(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

export async function deploy(
  moto: Moto,
  assembly: Assembly,
  simulator: { apiBaseUrl: string; tokenUrl: string },
): Promise<Deployment> {
  const config = { ...moto.clientConfig, forcePathStyle: true };
  const cloudFormation = new CloudFormationClient(config);

  // What `cdk bootstrap` leaves behind and the templates rely on.
  const { bootstrap } = assembly.stateless;
  await new SSMClient(config).send(
    new PutParameterCommand({
      Name: bootstrap.parameter,
      Value: String(bootstrap.version),
      Type: "String",
      Overwrite: true,
    }),
  );
  const assets = [...assembly.stateful.assets, ...assembly.stateless.assets];
  const buckets = [...new Set(assets.map((asset) => resolvePlaceholders(asset.bucketName)))];
  const s3 = new S3Client(config);
  for (const bucket of buckets) {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: {
          LocationConstraint: PSEUDO.region as BucketLocationConstraint,
        },
      }),
    );
  }
  for (const asset of assets) await publish(s3, asset);

  const statefulInput = { pseudo: PSEUDO };
  const outOfBand = STATEFUL_ADJUSTMENTS.flatMap(
    (adjustment) => adjustment.outOfBand?.(assembly.stateful.template, statefulInput) ?? [],
  );
  const created: Record<string, CreatedResource> = {};
  for (const resource of outOfBand) {
    created[resource.logicalId] = await createOutOfBand(moto, resource);
  }

  const stateful = await deployStack(
    cloudFormation,
    assembly.stateful,
    STATEFUL_ADJUSTMENTS,
    { ...statefulInput, created },
    EXPECTED_SKIPPED_TYPES.stateful,
  );
  const stateless = await deployStack(
    cloudFormation,
    assembly.stateless,
    STATELESS_ADJUSTMENTS,
    {
      pseudo: PSEUDO,
      producerOutputs: stateful.outputs,
      producerStackName: stateful.name,
      evEnergy: { configured: assembly.evEnergy, simulator },
    },
    EXPECTED_SKIPPED_TYPES.stateless,
  );
  return {
    stateful,
    stateless,
    created,
    adjustments: [...STATEFUL_ADJUSTMENTS, ...STATELESS_ADJUSTMENTS].map(({ name, reason }) => ({
      name,
      reason,
    })),
    assetBucket: buckets[0] ?? "",
  };
}

async function publish(s3: S3Client, asset: FileAsset): Promise<void> {
  const body = asset.packaging === "zip" ? zipFolder(asset.path) : readFileSync(asset.path);
  await s3.send(
    new PutObjectCommand({
      Bucket: resolvePlaceholders(asset.bucketName),
      Key: asset.objectKey,
      Body: body,
    }),
  );
}

function zipFolder(folder: string): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  const walk = (directory: string) => {
    for (const name of readdirSync(directory)) {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(folder, path)] = readFileSync(path);
    }
  };
  walk(folder);
  return zipSync(files);
}

/** Creates, through its own API, a resource the adjustments took out of the template. */
async function createOutOfBand(moto: Moto, resource: OutOfBandResource): Promise<CreatedResource> {
  const { properties } = resource;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const tags = (Array.isArray(properties.Tags) ? properties.Tags : []).filter(isObject);
  if (resource.type === "AWS::SecretsManager::Secret") {
    // CloudFormation names a secret after its logical id with a random suffix, and fills it
    // as GenerateSecretString says: here, the placeholder an operator replaces.
    const generate = isObject(properties.GenerateSecretString)
      ? properties.GenerateSecretString
      : {};
    const secret = await new SecretsManagerClient(moto.clientConfig).send(
      new CreateSecretCommand({
        Name: `${resource.logicalId}-${randomBytes(6).toString("hex")}`,
        Description: text(properties.Description),
        SecretString: generatedSecret(generate),
        Tags: tags.map((tag) => ({ Key: text(tag.Key), Value: text(tag.Value) })),
      }),
    );
    if (secret.ARN === undefined) throw new Error(`no ARN for ${resource.logicalId}`);
    return { ref: secret.ARN, arn: secret.ARN };
  }
  if (resource.type === "AWS::KMS::Key") {
    const key = await new KMSClient(moto.clientConfig).send(
      new CreateKeyCommand({
        Description: text(properties.Description),
        KeySpec: text(properties.KeySpec) as never,
        KeyUsage: text(properties.KeyUsage) as never,
        Policy: JSON.stringify(properties.KeyPolicy),
        Tags: tags.map((tag) => ({ TagKey: text(tag.Key), TagValue: text(tag.Value) })),
      }),
    );
    const { KeyId: id, Arn: arn } = key.KeyMetadata ?? {};
    if (id === undefined || arn === undefined) throw new Error(`no key for ${resource.logicalId}`);
    return { ref: id, arn };
  }
  throw new Error(`cannot create a ${resource.type} outside CloudFormation`);
}

function generatedSecret(generate: JsonObject): string {
  const template =
    typeof generate.SecretStringTemplate === "string"
      ? JSON.parse(generate.SecretStringTemplate)
      : {};
  const key =
    typeof generate.GenerateStringKey === "string" ? generate.GenerateStringKey : undefined;
  const length = typeof generate.PasswordLength === "number" ? generate.PasswordLength : 32;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const password = [...randomBytes(length)]
    .map((byte) => alphabet[byte % alphabet.length])
    .join("");
  return JSON.stringify(key === undefined ? template : { ...template, [key]: password });
}

async function deployStack(
  cloudFormation: CloudFormationClient,
  stack: SynthesizedStack,
  adjustments: readonly Adjustment[],
  input: Parameters<typeof adjust>[2],
  expectedSkipped: readonly string[],
): Promise<DeployedStack> {
  const template = adjust(stack.template, adjustments, input);
  await cloudFormation.send(
    new CreateStackCommand({
      StackName: stack.name,
      TemplateBody: JSON.stringify(template),
      Capabilities: ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    }),
  );
  const deadline = Date.now() + 60_000;
  let status = "";
  let outputs: Record<string, string> = {};
  for (;;) {
    const described = await cloudFormation.send(
      new DescribeStacksCommand({ StackName: stack.name }),
    );
    const found = described.Stacks?.[0];
    status = found?.StackStatus ?? "";
    outputs = Object.fromEntries(
      (found?.Outputs ?? []).map((output) => [output.OutputKey ?? "", output.OutputValue ?? ""]),
    );
    if (!status.endsWith("_IN_PROGRESS") || Date.now() > deadline) {
      if (status !== "CREATE_COMPLETE") {
        throw new Error(`${stack.name}: ${status} (${found?.StackStatusReason ?? "no reason"})`);
      }
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const summaries: StackResourceSummary[] = [];
  let token: string | undefined;
  do {
    const page = await cloudFormation.send(
      new ListStackResourcesCommand({ StackName: stack.name, NextToken: token }),
    );
    summaries.push(...(page.StackResourceSummaries ?? []));
    token = page.NextToken;
  } while (token !== undefined);
  // moto lists a skipped resource as an entry without logical id.
  const deployed = summaries.filter((summary) => summary.LogicalResourceId);
  const physicalIds = Object.fromEntries(
    deployed.map((summary) => [summary.LogicalResourceId ?? "", summary.PhysicalResourceId ?? ""]),
  );
  const skipped = skippedTypes(template, new Set(Object.keys(physicalIds)));
  const expected = [...expectedSkipped].sort();
  if (JSON.stringify(skipped) !== JSON.stringify(expected)) {
    const newly = skipped.filter((type) => !expected.includes(type));
    const now = expected.filter((type) => !skipped.includes(type));
    throw new Error(
      `${stack.name}: moto skipped other resource types than expected.` +
        (newly.length > 0 ? ` Newly skipped: ${newly.join(", ")}.` : "") +
        (now.length > 0 ? ` Now created: ${now.join(", ")}.` : "") +
        " Update EXPECTED_SKIPPED_TYPES in scripts/rehearsal/adjustments.ts once the rehearsal accounts for it.",
    );
  }
  return { name: stack.name, template, outputs, physicalIds, skippedTypes: skipped };
}
