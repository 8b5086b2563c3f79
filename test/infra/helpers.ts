/**
 * Builds the real app in-process, from the committed cdk.json context, for template
 * assertions and the cdk-nag check.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CfnElement, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { buildApp, type EvseOpsApp } from "../../infra/app.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** cdk.json's context as committed: `stages` and the feature flags. */
export function committedContext(): JsonObject {
  const cdkJson: Json = JSON.parse(readFileSync(join(REPO_ROOT, "cdk.json"), "utf8"));
  if (!isObject(cdkJson) || !isObject(cdkJson.context)) {
    throw new Error("cdk.json has no context object");
  }
  return cdkJson.context;
}

/** The committed settings of one stage, for tests to copy and change. */
export function committedStage(stage: string): JsonObject {
  const stages = committedContext().stages;
  const settings = isObject(stages) ? stages[stage] : undefined;
  if (!isObject(settings)) throw new Error(`cdk.json defines no stage ${stage}`);
  return structuredClone(settings);
}

/** Context selecting `stage`, with that stage's settings replaced when `settings` is given. */
export function contextFor(stage: string, settings?: JsonObject): JsonObject {
  const context = committedContext();
  const stages = isObject(context.stages) ? context.stages : {};
  return {
    ...context,
    stage,
    stages: settings === undefined ? stages : { ...stages, [stage]: settings },
  };
}

export interface SynthesisedStage extends EvseOpsApp {
  readonly statefulTemplate: Template;
  readonly statelessTemplate: Template;
  /** The cloud assembly's validation report (cdk-nag and CDK's own checks). */
  readonly report: ValidationReport;
  /** The cloud assembly folder (templates, bundled assets). */
  readonly outdir: string;
  /** Removes the cloud assembly written to a temporary folder. */
  cleanUp(): void;
}

export interface ValidationReport {
  readonly pluginReports: ReadonlyArray<{
    readonly pluginName: string;
    readonly violations: ReadonlyArray<{
      readonly ruleName: string;
      readonly severity: string;
      readonly violatingConstructs: ReadonlyArray<{ readonly constructPath: string }>;
    }>;
  }>;
}

/** The report CDK writes to the cloud assembly when a validation plugin has findings. */
export function readValidationReport(assemblyDirectory: string): ValidationReport {
  const reportFile = join(assemblyDirectory, "validation-report.json");
  return existsSync(reportFile)
    ? JSON.parse(readFileSync(reportFile, "utf8"))
    : { pluginReports: [] };
}

/** Every violation in the report, as `<plugin> <severity> <rule> at <construct path>`. */
export function findings(report: ValidationReport): string[] {
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((violation) =>
      violation.violatingConstructs.map(
        (construct) =>
          `${plugin.pluginName} ${violation.severity} ${violation.ruleName} at ${construct.constructPath}`,
      ),
    ),
  );
}

/**
 * Context for an in-process synth that writes validation failures to the report. esbuild
 * bundling (about 2 s a synth) is skipped unless `bundle` is set: templates are the same either
 * way, only the asset's contents are left out.
 */
export function reportingContext(
  stage: string,
  settings?: JsonObject,
  { bundle = false }: { bundle?: boolean } = {},
): JsonObject {
  return {
    ...contextFor(stage, settings),
    "@aws-cdk/core:failSynthOnValidationErrors": false,
    ...(bundle ? {} : { "aws:cdk:bundling-stacks": [] }),
  };
}

/**
 * Builds and synthesises the app for one stage. Validation failures are written to the report
 * instead of thrown, so that the nag test can list them; the CLI keeps the default and fails
 * synth on them.
 */
export function synthStage(
  stage: string,
  settings?: JsonObject,
  options: { bundle?: boolean } = {},
): SynthesisedStage {
  const outdir = mkdtempSync(join(tmpdir(), "evse-ops-cdk-"));
  const built = buildApp(reportingContext(stage, settings, options), { outdir });
  const assembly = built.app.synth();
  return {
    ...built,
    statefulTemplate: Template.fromStack(built.stateful),
    statelessTemplate: Template.fromStack(built.stateless),
    report: readValidationReport(assembly.directory),
    outdir: assembly.directory,
    cleanUp: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** The one resource of `type` in the template (fails if there are none or several). */
export function onlyResource(template: Template, type: string): JsonObject {
  const found: Record<string, Json> = template.findResources(type);
  const resources = Object.values(found).filter(isObject);
  if (resources.length !== 1) {
    throw new Error(`expected one ${type}, found ${resources.length}`);
  }
  const [resource] = resources;
  if (resource === undefined) throw new Error(`no ${type}`);
  return resource;
}

export function properties(resource: JsonObject): JsonObject {
  const props = resource.Properties;
  if (!isObject(props)) throw new Error("resource has no Properties");
  return props;
}

/**
 * Replaces each reference to another stack's output (`Fn::GetStackOutput`) with the value that
 * output has in the producing template, so a consumer's policy can be compared with the
 * producer's own `Ref`/`Fn::GetAtt` of a resource.
 */
export function resolveCrossStack(value: Json | undefined, producer: Template): Json | undefined {
  if (Array.isArray(value)) return value.map((item) => resolveCrossStack(item, producer) ?? null);
  if (!isObject(value)) return value;
  const output = value["Fn::GetStackOutput"];
  if (isObject(output) && typeof output.OutputName === "string") {
    const outputs: Record<string, Json> = producer.findOutputs(output.OutputName);
    const found = outputs[output.OutputName];
    if (!isObject(found)) throw new Error(`producer has no output ${output.OutputName}`);
    return found.Value;
  }
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, resolveCrossStack(item, producer) ?? null]),
  );
}

export interface PolicyStatement {
  readonly actions: string[];
  readonly resources: Json[];
  /** The statement's Condition block, when it has one. */
  readonly condition?: Json;
}

/**
 * Every Allow statement of the IAM policies attached to the role with the given logical id
 * (cross-stack references resolved).
 */
export function statementsOfRole(
  template: Template,
  roleLogicalId: string,
  producer: Template,
): PolicyStatement[] {
  const policies: Record<string, Json> = template.findResources("AWS::IAM::Policy");
  const statements: PolicyStatement[] = [];
  for (const policy of Object.values(policies)) {
    if (!isObject(policy)) continue;
    const props = properties(policy);
    const roles = Array.isArray(props.Roles) ? props.Roles : [];
    if (!roles.some((role) => isObject(role) && role.Ref === roleLogicalId)) continue;
    const document = props.PolicyDocument;
    const list = isObject(document) && Array.isArray(document.Statement) ? document.Statement : [];
    for (const statement of list) {
      if (!isObject(statement) || statement.Effect !== "Allow") continue;
      const actions = [statement.Action].flat().filter((a): a is string => typeof a === "string");
      const resources = [statement.Resource]
        .flat()
        .map((resource) => resolveCrossStack(resource, producer) ?? null);
      const condition = resolveCrossStack(statement.Condition, producer);
      statements.push(
        condition === undefined ? { actions, resources } : { actions, resources, condition },
      );
    }
  }
  return statements;
}

/** The logical id of a construct's CloudFormation resource (its default child). */
export function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

export function getAtt(construct: IConstruct, attribute = "Arn"): Json {
  return { "Fn::GetAtt": [logicalId(construct), attribute] };
}

/** The resource of a construct, as its stack's template holds it. */
export function resourceOf(template: Template, construct: IConstruct): JsonObject {
  const resources: Json = template.toJSON().Resources;
  const resource = isObject(resources) ? resources[logicalId(construct)] : undefined;
  if (!isObject(resource)) throw new Error(`${construct.node.path} is not in the template`);
  return resource;
}

/** Where a synthesised stage is pretended to be deployed, for the concrete ARNs below. */
export const DEPLOYED = {
  partition: "aws",
  region: "eu-west-2",
  account: "123456789012",
  /** The decommission REST API's id. */
  apiId: "a1b2c3d4e5",
} as const;

/** ARNs by CloudFormation type, for the resources whose ARNs the policies mention. */
const ARN_OF_TYPE: Readonly<Record<string, (name: string) => string>> = {
  "AWS::DynamoDB::GlobalTable": (name) =>
    `dynamodb:${DEPLOYED.region}:${DEPLOYED.account}:table/${name}`,
  "AWS::Events::EventBus": (name) =>
    `events:${DEPLOYED.region}:${DEPLOYED.account}:event-bus/${name}`,
  "AWS::KMS::Key": (name) => `kms:${DEPLOYED.region}:${DEPLOYED.account}:key/${name}`,
  "AWS::Logs::LogGroup": (name) => `logs:${DEPLOYED.region}:${DEPLOYED.account}:log-group:${name}`,
  "AWS::SecretsManager::Secret": (name) =>
    `secretsmanager:${DEPLOYED.region}:${DEPLOYED.account}:secret:${name}-AbCdEf`,
  "AWS::SQS::Queue": (name) => `sqs:${DEPLOYED.region}:${DEPLOYED.account}:${name}`,
  "AWS::Lambda::Function": (name) =>
    `lambda:${DEPLOYED.region}:${DEPLOYED.account}:function:${name}`,
};

/**
 * Resolves a value of a synthesised stage's stateless template as if both stacks were deployed
 * at DEPLOYED: cross-stack outputs are followed, Fn::Join joined, pseudo parameters filled, a
 * role's ARN built from its RoleName (or logical id) and path, the API's id and stage name
 * filled, and any other resource's ARN made up from its type and logical id. Throws on an
 * intrinsic it does not know, so nothing unresolved reaches a simulation.
 */
export function concreteValue(stage: SynthesisedStage, value: Json | undefined): Json {
  const resources = {
    ...(stage.statefulTemplate.toJSON().Resources as Record<string, Json>),
    ...(stage.statelessTemplate.toJSON().Resources as Record<string, Json>),
  };
  const api = logicalId(stage.stateless.decommission.api);
  const apiStage = logicalId(stage.stateless.decommission.api.deploymentStage);
  const pseudo: Record<string, string> = {
    "AWS::Partition": DEPLOYED.partition,
    "AWS::Region": DEPLOYED.region,
    "AWS::AccountId": DEPLOYED.account,
    "AWS::URLSuffix": "amazonaws.com",
  };

  const arnOf = (id: string): string => {
    const resource = resources[id];
    if (!isObject(resource) || typeof resource.Type !== "string") {
      throw new Error(`no resource ${id}`);
    }
    const props = isObject(resource.Properties) ? resource.Properties : {};
    if (resource.Type === "AWS::IAM::Role") {
      const name = typeof props.RoleName === "string" ? props.RoleName : id;
      const path = typeof props.Path === "string" ? props.Path : "/";
      return `arn:${DEPLOYED.partition}:iam::${DEPLOYED.account}:role${path}${name}`;
    }
    const make = ARN_OF_TYPE[resource.Type];
    if (make === undefined) throw new Error(`no made-up ARN for ${resource.Type} (${id})`);
    return `arn:${DEPLOYED.partition}:${make(id)}`;
  };

  const resolve = (item: Json | undefined): Json => {
    if (Array.isArray(item)) return item.map(resolve);
    if (!isObject(item)) return item ?? null;
    const keys = Object.keys(item);
    const [only] = keys;
    if (keys.length !== 1 || only === undefined || !(only === "Ref" || only.startsWith("Fn::"))) {
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key, resolve(inner)]));
    }
    const argument = item[only];
    if (only === "Fn::GetStackOutput") {
      return resolve(resolveCrossStack(item, stage.statefulTemplate));
    }
    if (only === "Fn::Join" && Array.isArray(argument)) {
      const [separator, parts] = argument;
      if (typeof separator === "string" && Array.isArray(parts)) {
        return parts.map((part) => String(resolve(part))).join(separator);
      }
    }
    if (only === "Ref" && typeof argument === "string") {
      const fixed = pseudo[argument];
      if (fixed !== undefined) return fixed;
      if (argument === api) return DEPLOYED.apiId;
      if (argument === apiStage) return stage.config.stage;
      const resource = resources[argument];
      // A Ref of a secret is its ARN; of anything else here, its name.
      if (isObject(resource) && resource.Type === "AWS::SecretsManager::Secret") {
        return arnOf(argument);
      }
      if (resource !== undefined) return argument;
    }
    if (only === "Fn::GetAtt" && Array.isArray(argument)) {
      const [id, attribute] = argument;
      if (typeof id === "string" && attribute === "Arn") return arnOf(id);
    }
    throw new Error(`cannot resolve ${JSON.stringify(item)}`);
  };
  return resolve(value);
}

/** The identity policy documents attached to a role, resolved by concreteValue. */
export function concretePoliciesOfRole(
  stage: SynthesisedStage,
  role: IConstruct,
): Array<{ name: string; policy: Json }> {
  const id = logicalId(role);
  const policies: Record<string, Json> = stage.statelessTemplate.findResources("AWS::IAM::Policy");
  return Object.entries(policies).flatMap(([name, policy]) => {
    if (!isObject(policy)) return [];
    const props = properties(policy);
    const roles = Array.isArray(props.Roles) ? props.Roles : [];
    if (!roles.some((ref) => isObject(ref) && ref.Ref === id)) return [];
    return [{ name, policy: concreteValue(stage, props.PolicyDocument) }];
  });
}
