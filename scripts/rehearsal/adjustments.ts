/**
 * Every change the rehearsal makes to the synthesized templates before moto deploys them, each
 * named, with the reason moto cannot take the template as it is. Nothing else is changed.
 *
 * Each adjustment throws `AdjustmentNoLongerApplies` when the template no longer has what it
 * adjusts (CDK changed its output, or the stack changed), so an adjustment never lingers after
 * its cause is gone; and the deploy step compares the resource types moto skipped with
 * `EXPECTED_SKIPPED_TYPES`, so nothing is dropped silently either.
 *
 * Pure functions over template JSON: test/rehearsal/adjustments.test.ts runs them on the real
 * synthesized templates.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Resource extends JsonObject {
  Type: string;
}

export interface Template extends JsonObject {
  Resources: { [logicalId: string]: Resource };
}

/** What CloudFormation's pseudo parameters are where the rehearsal deploys. */
export interface Pseudo {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** A resource the deploy step creates through its service's API instead of CloudFormation. */
export interface OutOfBandResource {
  readonly logicalId: string;
  readonly type: string;
  /** Its properties with the pseudo parameters resolved. */
  readonly properties: JsonObject;
}

/** What such a resource turned out to be: what `Ref` and `Fn::GetAtt Arn` give for it. */
export interface CreatedResource {
  readonly ref: string;
  readonly arn: string;
}

export interface AdjustmentInput {
  readonly pseudo: Pseudo;
  /** Resources created outside CloudFormation, by logical id (see `createdOutsideCloudFormation`). */
  readonly created?: Readonly<Record<string, CreatedResource>>;
  /** The producing stack's outputs as deployed, by output name (stateless stack only). */
  readonly producerOutputs?: Readonly<Record<string, string>>;
  /** The producing stack's name, which `Fn::GetStackOutput` must name. */
  readonly producerStackName?: string;
  /** ev.energy's URLs as the stage configures them, and the simulator's that replace them. */
  readonly evEnergy?: {
    readonly configured: { readonly apiBaseUrl: string; readonly tokenUrl: string };
    readonly simulator: { readonly apiBaseUrl: string; readonly tokenUrl: string };
  };
}

export interface Adjustment {
  readonly name: string;
  /** Why moto cannot take the template as synthesized. */
  readonly reason: string;
  /** The adjusted template; throws AdjustmentNoLongerApplies when nothing here needs it. */
  apply(template: Template, input: AdjustmentInput): Template;
  /** The resources this adjustment takes out for the deploy step to create through the API. */
  outOfBand?(template: Template, input: AdjustmentInput): OutOfBandResource[];
}

export class AdjustmentNoLongerApplies extends Error {
  override readonly name = "AdjustmentNoLongerApplies";
  constructor(adjustment: string, why: string) {
    super(
      `template adjustment "${adjustment}" no longer applies: ${why}. Check whether moto or the stack changed, and remove or rewrite the adjustment (scripts/rehearsal/adjustments.ts).`,
    );
  }
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Rebuilds `value` bottom-up, letting `replace` swap any object (an intrinsic, say) first. */
export function mapJson(value: Json, replace: (object: JsonObject) => Json | undefined): Json {
  if (Array.isArray(value)) return value.map((item) => mapJson(item, replace));
  if (!isObject(value)) return value;
  const replaced = replace(value);
  if (replaced !== undefined) return replaced;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, mapJson(item, replace)]),
  );
}

function clone(template: Template): Template {
  return structuredClone(template);
}

function resourcesOfType(template: Template, type: string): Array<[string, Resource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function propertiesOf(resource: Resource): JsonObject {
  const properties = resource.Properties;
  return isObject(properties) ? properties : {};
}

/** Refuses properties an adjustment was not written for: it would drop them unseen. */
function onlyKnownProperties(
  adjustment: string,
  logicalId: string,
  properties: JsonObject,
  known: readonly string[],
): void {
  const unknown = Object.keys(properties).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new AdjustmentNoLongerApplies(
      adjustment,
      `${logicalId} has properties it was not written for (${unknown.join(", ")})`,
    );
  }
}

/** Resolves the pseudo parameters (and Fn::Join over them) CloudFormation would. */
export function resolvePseudo(value: Json, pseudo: Pseudo): Json {
  const parameters: Record<string, string> = {
    "AWS::Partition": pseudo.partition,
    "AWS::Region": pseudo.region,
    "AWS::AccountId": pseudo.account,
    "AWS::URLSuffix": "amazonaws.com",
  };
  return mapJson(value, (object) => {
    const keys = Object.keys(object);
    if (keys.length !== 1) return undefined;
    if (typeof object.Ref === "string" && parameters[object.Ref] !== undefined) {
      return parameters[object.Ref];
    }
    const join = object["Fn::Join"];
    if (Array.isArray(join)) {
      const [separator, parts] = join;
      if (typeof separator !== "string" || !Array.isArray(parts)) return undefined;
      const resolved = parts.map((part) => resolvePseudo(part, pseudo));
      if (resolved.every((part) => typeof part === "string")) return resolved.join(separator);
      throw new Error(`cannot resolve ${JSON.stringify(object)} from pseudo parameters alone`);
    }
    return undefined;
  });
}

// ------------------------------------------------------------------------------------------------

const GLOBAL_TABLE = "global table as a table";

/**
 * CDK's TableV2 synthesizes AWS::DynamoDB::GlobalTable, which moto's CloudFormation does not
 * know (it would skip the table). One replica in the stack's own region is what a table is, so
 * the same keys, indexes, billing, encryption, TTL and recovery settings go into an
 * AWS::DynamoDB::Table.
 */
export const globalTableAsTable: Adjustment = {
  name: GLOBAL_TABLE,
  reason: "moto's CloudFormation has no AWS::DynamoDB::GlobalTable",
  apply(template) {
    const adjusted = clone(template);
    const tables = resourcesOfType(adjusted, "AWS::DynamoDB::GlobalTable");
    if (tables.length === 0) throw new AdjustmentNoLongerApplies(GLOBAL_TABLE, "no GlobalTable");
    for (const [logicalId, resource] of tables) {
      const properties = propertiesOf(resource);
      onlyKnownProperties(GLOBAL_TABLE, logicalId, properties, [
        "AttributeDefinitions",
        "BillingMode",
        "GlobalSecondaryIndexes",
        "KeySchema",
        "Replicas",
        "SSESpecification",
        "TimeToLiveSpecification",
      ]);
      const { Replicas: replicas, ...table } = properties;
      const [replica, ...others] = Array.isArray(replicas) ? replicas : [];
      if (!isObject(replica) || others.length > 0) {
        throw new AdjustmentNoLongerApplies(GLOBAL_TABLE, `${logicalId} is not one replica`);
      }
      const region = replica.Region;
      if (!isObject(region) || region.Ref !== "AWS::Region") {
        throw new AdjustmentNoLongerApplies(GLOBAL_TABLE, `${logicalId}'s replica is elsewhere`);
      }
      onlyKnownProperties(GLOBAL_TABLE, `${logicalId} replica`, replica, [
        "Region",
        "DeletionProtectionEnabled",
        "GlobalSecondaryIndexes",
        "PointInTimeRecoverySpecification",
        "Tags",
      ]);
      adjusted.Resources[logicalId] = {
        ...resource,
        Type: "AWS::DynamoDB::Table",
        Properties: {
          ...table,
          ...(replica.DeletionProtectionEnabled === undefined
            ? {}
            : { DeletionProtectionEnabled: replica.DeletionProtectionEnabled }),
          ...(replica.PointInTimeRecoverySpecification === undefined
            ? {}
            : { PointInTimeRecoverySpecification: replica.PointInTimeRecoverySpecification }),
          ...(replica.Tags === undefined ? {} : { Tags: replica.Tags }),
        },
      };
    }
    return adjusted;
  },
};

const ARCHIVE_PATTERN = "archive event pattern as text";

/** moto's AWS::Events::Archive stores EventPattern as given and later parses it as a string. */
export const archivePatternAsText: Adjustment = {
  name: ARCHIVE_PATTERN,
  reason: "moto's CloudFormation takes an archive's EventPattern only as a JSON string",
  apply(template) {
    const adjusted = clone(template);
    const archives = resourcesOfType(adjusted, "AWS::Events::Archive").filter(([, resource]) =>
      isObject(propertiesOf(resource).EventPattern),
    );
    if (archives.length === 0) {
      throw new AdjustmentNoLongerApplies(ARCHIVE_PATTERN, "no archive has an object pattern");
    }
    for (const [, resource] of archives) {
      const properties = propertiesOf(resource);
      resource.Properties = {
        ...properties,
        EventPattern: JSON.stringify(properties.EventPattern),
      };
    }
    return adjusted;
  },
};

const KMS_TAGS = "KMS key tags in the KMS API's shape";

/**
 * CloudFormation's tags are `{Key, Value}`; moto hands a key's tags to its KMS backend as they
 * are, which wants the KMS API's `{TagKey, TagValue}` and fails on the others.
 */
export const kmsTagsInApiShape: Adjustment = {
  name: KMS_TAGS,
  reason: "moto's CloudFormation passes AWS::KMS::Key tags to KMS without renaming Key/Value",
  apply(template) {
    const adjusted = clone(template);
    const keys = resourcesOfType(adjusted, "AWS::KMS::Key").filter(([, resource]) =>
      Array.isArray(propertiesOf(resource).Tags),
    );
    if (keys.length === 0) throw new AdjustmentNoLongerApplies(KMS_TAGS, "no KMS key has tags");
    for (const [, resource] of keys) {
      const properties = propertiesOf(resource);
      resource.Properties = { ...properties, Tags: kmsTags(properties.Tags) };
    }
    return adjusted;
  },
};

function kmsTags(tags: Json | undefined): Json {
  return (Array.isArray(tags) ? tags : []).map((tag) =>
    isObject(tag) ? { TagKey: tag.Key ?? null, TagValue: tag.Value ?? null } : tag,
  );
}

const EVENTS_REF = "Ref of an EventBridge resource as its name";

/**
 * `Ref` of an AWS::Events::EventBus or AWS::Events::Archive is its name in CloudFormation; moto
 * returns a Python object's repr instead (`<moto.events.models.EventBus object at 0x…>`), which
 * would reach the functions as EVENT_BUS_NAME. The names are literal in the template.
 */
export const eventsRefAsName: Adjustment = {
  name: EVENTS_REF,
  reason: "moto's CloudFormation answers Ref of an event bus or archive with a Python repr",
  apply(template) {
    const names: Record<string, string> = {};
    for (const [type, property] of [
      ["AWS::Events::EventBus", "Name"],
      ["AWS::Events::Archive", "ArchiveName"],
    ] as const) {
      for (const [logicalId, resource] of resourcesOfType(template, type)) {
        const name = propertiesOf(resource)[property];
        if (typeof name !== "string") {
          throw new AdjustmentNoLongerApplies(
            EVENTS_REF,
            `${logicalId} has no literal ${property}`,
          );
        }
        names[logicalId] = name;
      }
    }
    let replaced = 0;
    const adjusted = mapJson(template, (object) => {
      const name = typeof object.Ref === "string" ? names[object.Ref] : undefined;
      if (name === undefined || Object.keys(object).length !== 1) return undefined;
      replaced++;
      return name;
    }) as Template;
    if (replaced === 0)
      throw new AdjustmentNoLongerApplies(EVENTS_REF, "no Ref of a bus or archive");
    return adjusted;
  },
};

const OUT_OF_BAND = "created through the API: secrets and the HMAC key";

/** Properties the API creation below carries over, per type; any other stops the rehearsal. */
const OUT_OF_BAND_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  "AWS::SecretsManager::Secret": ["Description", "GenerateSecretString", "Tags"],
  "AWS::KMS::Key": ["Description", "KeyPolicy", "KeySpec", "KeyUsage", "Tags"],
};

function takenOut(resource: Resource): boolean {
  if (resource.Type === "AWS::SecretsManager::Secret") return true;
  const spec = propertiesOf(resource).KeySpec;
  return resource.Type === "AWS::KMS::Key" && typeof spec === "string" && spec.startsWith("HMAC_");
}

/**
 * moto's CloudFormation accepts AWS::SecretsManager::Secret but creates nothing (every Ref to
 * it then resolves to nothing, and the outputs naming it vanish), and creates every
 * AWS::KMS::Key as SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT whatever its KeySpec and KeyUsage, so
 * the HMAC_256 approval key could neither make nor verify a MAC. The deploy step creates these
 * through Secrets Manager and KMS with the template's own properties (description, tags, the
 * generated placeholder, key spec, usage and policy), and the template refers to what was
 * created: `Ref` gives the secret's ARN or the key's id, `Fn::GetAtt Arn` the ARN, as
 * CloudFormation would.
 */
export const createdOutsideCloudFormation: Adjustment = {
  name: OUT_OF_BAND,
  reason:
    "moto's CloudFormation creates no secret, and creates every KMS key as a symmetric encryption key",
  outOfBand(template, input) {
    const found = Object.entries(template.Resources).filter(([, resource]) => takenOut(resource));
    if (found.length === 0) {
      throw new AdjustmentNoLongerApplies(OUT_OF_BAND, "no secret and no HMAC key");
    }
    return found.map(([logicalId, resource]) => {
      const properties = propertiesOf(resource);
      onlyKnownProperties(
        OUT_OF_BAND,
        logicalId,
        properties,
        OUT_OF_BAND_PROPERTIES[resource.Type] ?? [],
      );
      const resolved = resolvePseudo(properties, input.pseudo);
      if (!isObject(resolved)) throw new Error(`${logicalId}: properties are not an object`);
      return { logicalId, type: resource.Type, properties: resolved };
    });
  },
  apply(template, input) {
    const created = input.created ?? {};
    const adjusted = clone(template);
    const ids = Object.entries(adjusted.Resources)
      .filter(([, resource]) => takenOut(resource))
      .map(([logicalId]) => logicalId);
    if (ids.length === 0) throw new AdjustmentNoLongerApplies(OUT_OF_BAND, "nothing to take out");
    for (const id of ids) {
      if (created[id] === undefined) throw new Error(`${OUT_OF_BAND}: ${id} was not created`);
      delete adjusted.Resources[id];
    }
    return mapJson(adjusted, (object) => {
      if (Object.keys(object).length !== 1) return undefined;
      if (typeof object.Ref === "string" && ids.includes(object.Ref)) {
        return created[object.Ref]?.ref ?? null;
      }
      const getAtt = object["Fn::GetAtt"];
      if (Array.isArray(getAtt) && typeof getAtt[0] === "string" && ids.includes(getAtt[0])) {
        if (getAtt[1] !== "Arn")
          throw new Error(`${OUT_OF_BAND}: no ${getAtt[1]} for ${getAtt[0]}`);
        return created[getAtt[0]]?.arn ?? null;
      }
      return undefined;
    }) as Template;
  },
};

const CROSS_STACK = "cross-stack outputs resolved";

/**
 * CDK's weak cross-stack references synthesize `Fn::GetStackOutput`, which moto does not
 * resolve. Each becomes the producing stack's output value as moto deployed it, which is what
 * CloudFormation would put there.
 */
export const crossStackOutputsResolved: Adjustment = {
  name: CROSS_STACK,
  reason: "moto's CloudFormation does not resolve Fn::GetStackOutput",
  apply(template, input) {
    const outputs = input.producerOutputs ?? {};
    let resolved = 0;
    const adjusted = mapJson(template, (object) => {
      const reference = object["Fn::GetStackOutput"];
      if (!isObject(reference) || Object.keys(object).length !== 1) return undefined;
      const { StackName: stack, OutputName: name, Region: region } = reference;
      if (stack !== input.producerStackName) {
        throw new AdjustmentNoLongerApplies(CROSS_STACK, `an output of ${String(stack)} is used`);
      }
      if (!isObject(region) || region.Ref !== "AWS::Region") {
        throw new AdjustmentNoLongerApplies(CROSS_STACK, "an output of another region is used");
      }
      const value = typeof name === "string" ? outputs[name] : undefined;
      if (value === undefined) {
        throw new Error(`${CROSS_STACK}: ${String(stack)} has no output ${String(name)}`);
      }
      resolved++;
      return value;
    }) as Template;
    if (resolved === 0) throw new AdjustmentNoLongerApplies(CROSS_STACK, "no Fn::GetStackOutput");
    return adjusted;
  },
};

const ALARM_ARNS = "skipped alarms' ARNs in the dashboard";

/**
 * moto skips AWS::CloudWatch::Alarm, and then refuses the whole stack because the dashboard
 * names each alarm by `Fn::GetAtt Arn`. An alarm's ARN follows from its name, so the dashboard
 * gets the ARN CloudFormation would have given it (the alarms themselves stay skipped).
 */
export const skippedAlarmArns: Adjustment = {
  name: ALARM_ARNS,
  reason: "moto's CloudFormation skips alarms, and cannot then resolve Fn::GetAtt of one",
  apply(template, input) {
    const { partition, region, account } = input.pseudo;
    const alarms = Object.fromEntries(resourcesOfType(template, "AWS::CloudWatch::Alarm"));
    let replaced = 0;
    const adjusted = mapJson(template, (object) => {
      const getAtt = object["Fn::GetAtt"];
      if (!Array.isArray(getAtt) || typeof getAtt[0] !== "string") return undefined;
      const alarm = alarms[getAtt[0]];
      if (alarm === undefined) return undefined;
      const name = propertiesOf(alarm).AlarmName;
      if (getAtt[1] !== "Arn" || typeof name !== "string") {
        throw new AdjustmentNoLongerApplies(ALARM_ARNS, `${getAtt[0]} has no literal AlarmName`);
      }
      replaced++;
      return `arn:${partition}:cloudwatch:${region}:${account}:alarm:${name}`;
    }) as Template;
    if (replaced === 0) throw new AdjustmentNoLongerApplies(ALARM_ARNS, "no alarm is referenced");
    return adjusted;
  },
};

const STAGE_NAMES = "skipped stages' names";

/**
 * moto skips AWS::ApiGateway::Stage, and then resolves `Ref` of one to nothing, so a Lambda
 * permission scoped to a method on the stage (the webhooks API's: `…/<stage>/POST/…`) would name
 * no stage. A stage's `Ref` is its name, so each becomes the literal StageName CloudFormation
 * would have answered (the stages themselves stay skipped).
 */
export const skippedStageNames: Adjustment = {
  name: STAGE_NAMES,
  reason: "moto's CloudFormation skips API Gateway stages, and cannot then resolve Ref of one",
  apply(template) {
    const stages = Object.fromEntries(resourcesOfType(template, "AWS::ApiGateway::Stage"));
    let replaced = 0;
    const adjusted = mapJson(template, (object) => {
      const ref = object.Ref;
      if (Object.keys(object).length !== 1 || typeof ref !== "string") return undefined;
      const stage = stages[ref];
      if (stage === undefined) return undefined;
      const name = propertiesOf(stage).StageName;
      if (typeof name !== "string") {
        throw new AdjustmentNoLongerApplies(STAGE_NAMES, `${ref} has no literal StageName`);
      }
      replaced++;
      return name;
    }) as Template;
    if (replaced === 0) throw new AdjustmentNoLongerApplies(STAGE_NAMES, "no stage is referenced");
    return adjusted;
  },
};

const SIMULATOR = "ev.energy is the simulator";

/**
 * Not a limit of moto's: the rehearsal's ev.energy is the project's simulator on 127.0.0.1
 * (the functions accept plain http only to loopback), so the real ev.energy is never called.
 * The functions' ev.energy URLs, exactly as the stage configures them, become the simulator's;
 * every other part of their environment stays as CloudFormation resolves it.
 */
export const evEnergyIsTheSimulator: Adjustment = {
  name: SIMULATOR,
  reason: "the rehearsal drives the project's simulated ev.energy, never the real one",
  apply(template, input) {
    const urls = input.evEnergy;
    if (urls === undefined) throw new Error(`${SIMULATOR}: no simulator URLs given`);
    const replacements = new Map([
      [urls.configured.apiBaseUrl, urls.simulator.apiBaseUrl],
      [urls.configured.tokenUrl, urls.simulator.tokenUrl],
    ]);
    const used = new Set<string>();
    const adjusted = clone(template);
    for (const [, resource] of resourcesOfType(adjusted, "AWS::Lambda::Function")) {
      const properties = propertiesOf(resource);
      const environment = isObject(properties.Environment) ? properties.Environment : {};
      const variables = isObject(environment.Variables) ? environment.Variables : {};
      for (const [name, value] of Object.entries(variables)) {
        const replacement = typeof value === "string" ? replacements.get(value) : undefined;
        if (replacement === undefined || typeof value !== "string") continue;
        variables[name] = replacement;
        used.add(value);
      }
    }
    const unused = [...replacements.keys()].filter((url) => !used.has(url));
    if (unused.length > 0) {
      throw new AdjustmentNoLongerApplies(SIMULATOR, `no function is given ${unused.join(", ")}`);
    }
    return adjusted;
  },
};

/** The adjustments of each stack, in the order they apply. */
export const STATEFUL_ADJUSTMENTS: readonly Adjustment[] = [
  // First: the resources it takes out keep CloudFormation's shape for the API calls.
  createdOutsideCloudFormation,
  globalTableAsTable,
  archivePatternAsText,
  kmsTagsInApiShape,
  eventsRefAsName,
];

export const STATELESS_ADJUSTMENTS: readonly Adjustment[] = [
  crossStackOutputsResolved,
  skippedAlarmArns,
  skippedStageNames,
  evEnergyIsTheSimulator,
];

/**
 * The resource types moto 5.2.1 accepts without creating anything, after the adjustments: the
 * rehearsal stands in for what it needs of them (schedules, API Gateway's stage and gateway
 * responses, the asynchronous invoke configuration) and cannot show the rest (alarms, queue and
 * topic policies). A change in this set fails the deploy step, so that a newly skipped resource
 * is noticed, and a newly created one can be put to use.
 */
export const EXPECTED_SKIPPED_TYPES: Readonly<Record<"stateful" | "stateless", readonly string[]>> =
  {
    stateful: ["AWS::CDK::Metadata", "AWS::SNS::TopicPolicy"],
    stateless: [
      "AWS::ApiGateway::Account",
      "AWS::ApiGateway::GatewayResponse",
      "AWS::ApiGateway::Model",
      "AWS::ApiGateway::RequestValidator",
      "AWS::ApiGateway::Stage",
      "AWS::CDK::Metadata",
      "AWS::CloudWatch::Alarm",
      "AWS::Lambda::EventInvokeConfig",
      "AWS::SQS::QueuePolicy",
      "AWS::Scheduler::Schedule",
    ],
  };

/** Applies `adjustments` in order. */
export function adjust(
  template: Template,
  adjustments: readonly Adjustment[],
  input: AdjustmentInput,
): Template {
  return adjustments.reduce((current, adjustment) => adjustment.apply(current, input), template);
}

/**
 * The types of the template's resources that are not among those deployed (by logical id),
 * sorted, each once.
 */
export function skippedTypes(
  template: Template,
  deployedLogicalIds: ReadonlySet<string>,
): string[] {
  const types = Object.entries(template.Resources)
    .filter(([logicalId]) => !deployedLogicalIds.has(logicalId))
    .map(([, resource]) => resource.Type);
  return [...new Set(types)].sort();
}
