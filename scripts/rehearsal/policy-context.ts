/**
 * What IAM is asked when a function makes an AWS call: from one recorded request (service,
 * operation, JSON body) the action, the resource ARN, and the condition keys the service would
 * set from that request. Pure, so test/rehearsal/policy-context.test.ts can hold it to the
 * services' documented behaviour.
 *
 * A key is supplied only when the request determines it; never invented. A policy condition on
 * a key not supplied then fails the policy check (policy-check.ts) instead of passing by default.
 * - DynamoDB: `dynamodb:LeadingKeys` (the partition key values the request touches, of the
 *   index for an index Query), `dynamodb:Attributes` (the top-level attribute names it names:
 *   key, item, update, projection and condition; left out for a read without a projection,
 *   which reads every attribute), `dynamodb:ReturnValues` on writes (NONE, the API's default,
 *   when the request has none), `dynamodb:Select` on Query.
 * - EventBridge PutEvents: `events:source` and `events:detail-type`, multivalued over the
 *   request's entries (one authorization per request).
 * - Secrets Manager: `secretsmanager:SecretId` (and the version id or stage when asked for).
 * - KMS: `kms:MacAlgorithm`, `kms:CallerAccount`, and the key's spec, usage and origin.
 * - every call: the principal's keys (`aws:PrincipalArn` is the role's ARN), the region, the
 *   time, and `lambda:SourceFunctionArn` (Lambda sets it on its functions' role credentials).
 */

export type ContextValue = string | string[];

export interface IamRequest {
  /** e.g. `dynamodb:PutItem` */
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, ContextValue>>;
}

/** One AWS call as the recorder saw it. */
export interface RecordedRequest {
  /** The SigV4 credential scope's service, e.g. `dynamodb`, `events`. */
  readonly service: string;
  /** The operation, from X-Amz-Target, e.g. `PutItem`. */
  readonly operation: string;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface CallerIdentity {
  readonly roleArn: string;
  readonly sessionArn: string;
  readonly functionArn: string;
}

export interface TableKeys {
  readonly partitionKey: string;
  readonly sortKey?: string;
  /** Partition key of each index, by index name. */
  readonly indexes: Readonly<Record<string, string>>;
}

export interface KeyFacts {
  readonly keySpec: string;
  readonly keyUsage: string;
  readonly origin: string;
}

/** What the context builder needs to know about the deployed resources. */
export interface DeployedFacts {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly tables: Readonly<Record<string, TableKeys>>;
  /** KMS keys by ARN. */
  readonly keys: Readonly<Record<string, KeyFacts>>;
  /** When the call was made. */
  readonly now: Date;
}

export class UnmodelledCall extends Error {
  override readonly name = "UnmodelledCall";
}

/** The IAM requests one recorded call makes: one per resource it touches. */
export function iamRequests(
  call: RecordedRequest,
  caller: CallerIdentity,
  facts: DeployedFacts,
): IamRequest[] {
  const global = globalKeys(caller, facts);
  const specific = serviceRequests(call, facts);
  return specific.map((request) => ({
    ...request,
    context: { ...global, ...request.context },
  }));
}

function globalKeys(caller: CallerIdentity, facts: DeployedFacts): Record<string, ContextValue> {
  return {
    "aws:PrincipalArn": caller.roleArn,
    "aws:PrincipalAccount": facts.account,
    "aws:PrincipalType": "AssumedRole",
    "aws:RequestedRegion": facts.region,
    // The functions reach AWS over TLS; only the rehearsal's hop to the emulator is plain HTTP.
    "aws:SecureTransport": "true",
    "aws:CurrentTime": facts.now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    "aws:EpochTime": String(Math.floor(facts.now.getTime() / 1000)),
    "lambda:SourceFunctionArn": caller.functionArn,
  };
}

function serviceRequests(
  call: RecordedRequest,
  facts: DeployedFacts,
): Array<{ action: string; resource: string; context: Record<string, ContextValue> }> {
  const { service, operation, body } = call;
  const action = `${service}:${operation}`;
  const arn = (resource: string) =>
    `arn:${facts.partition}:${service}:${facts.region}:${facts.account}:${resource}`;
  switch (service) {
    case "dynamodb":
      return dynamoDbRequests(operation, body, facts).map((request) => ({
        action,
        ...request,
      }));
    case "events": {
      if (operation !== "PutEvents") break;
      const entries = records(body.Entries);
      const buses = new Set(entries.map((entry) => text(entry.EventBusName) ?? "default"));
      return [...buses].map((bus) => {
        const onBus = entries.filter((entry) => (text(entry.EventBusName) ?? "default") === bus);
        return {
          action,
          resource: bus.startsWith("arn:") ? bus : arn(`event-bus/${bus}`),
          context: {
            "events:source": distinct(onBus.map((entry) => text(entry.Source) ?? "")),
            "events:detail-type": distinct(onBus.map((entry) => text(entry.DetailType) ?? "")),
          },
        };
      });
    }
    case "secretsmanager": {
      if (operation !== "GetSecretValue" && operation !== "DescribeSecret") break;
      const id = text(body.SecretId);
      if (id === undefined || !id.startsWith("arn:")) {
        throw new UnmodelledCall(`${action} by name (${id}): the recorder needs a secret ARN`);
      }
      const context: Record<string, ContextValue> = { "secretsmanager:SecretId": id };
      const versionId = text(body.VersionId);
      const versionStage = text(body.VersionStage);
      if (versionId !== undefined) context["secretsmanager:VersionId"] = versionId;
      if (versionStage !== undefined) context["secretsmanager:VersionStage"] = versionStage;
      return [{ action, resource: id, context }];
    }
    case "kms": {
      if (operation !== "GenerateMac" && operation !== "VerifyMac") break;
      const key = text(body.KeyId) ?? "";
      const facts_ = facts.keys[key];
      if (facts_ === undefined) {
        throw new UnmodelledCall(`${action} on ${key}: not a key ARN the rehearsal knows`);
      }
      return [
        {
          action,
          resource: key,
          context: {
            "kms:MacAlgorithm": text(body.MacAlgorithm) ?? "",
            "kms:CallerAccount": facts.account,
            "kms:KeySpec": facts_.keySpec,
            "kms:KeyUsage": facts_.keyUsage,
            "kms:KeyOrigin": facts_.origin,
          },
        },
      ];
    }
    case "sqs": {
      const url = text(body.QueueUrl);
      if (url === undefined) break;
      const [, account, name] = new URL(url).pathname.split("/");
      return [
        {
          action,
          resource: `arn:${facts.partition}:sqs:${facts.region}:${account}:${name}`,
          context: {},
        },
      ];
    }
  }
  throw new UnmodelledCall(
    `${action}: the recorder does not know which resource and condition keys this call has; add it to scripts/rehearsal/policy-context.ts`,
  );
}

function dynamoDbRequests(
  operation: string,
  body: Readonly<Record<string, unknown>>,
  facts: DeployedFacts,
): Array<{ resource: string; context: Record<string, ContextValue> }> {
  const tableArn = (table: string) =>
    table.startsWith("arn:")
      ? table
      : `arn:${facts.partition}:dynamodb:${facts.region}:${facts.account}:table/${table}`;
  const keysOf = (table: string): TableKeys => {
    const name = table.startsWith("arn:") ? (table.split("/")[1] ?? "") : table;
    const keys = facts.tables[name];
    if (keys === undefined)
      throw new UnmodelledCall(`dynamodb:${operation} on unknown table ${table}`);
    return keys;
  };
  const names = asStrings(body.ExpressionAttributeNames);
  const named = (...expressions: unknown[]) =>
    expressions.flatMap((expression) => attributeNames(text(expression), names));
  const returnValues = { "dynamodb:ReturnValues": text(body.ReturnValues) ?? "NONE" };
  const capacity = text(body.ReturnConsumedCapacity);
  const consumed: Record<string, ContextValue> =
    capacity === undefined ? {} : { "dynamodb:ReturnConsumedCapacity": capacity };

  const item = (
    table: string,
    key: Record<string, unknown>,
    attributes: string[] | undefined,
    extra: Record<string, ContextValue>,
  ): { resource: string; context: Record<string, ContextValue> } => {
    const { partitionKey } = keysOf(table);
    return {
      resource: tableArn(table),
      context: {
        "dynamodb:LeadingKeys": [scalar(key[partitionKey], `${operation} ${partitionKey}`)],
        ...(attributes === undefined ? {} : { "dynamodb:Attributes": distinct(attributes) }),
        ...consumed,
        ...extra,
      },
    };
  };

  const table = text(body.TableName) ?? "";
  const key = record(body.Key);
  switch (operation) {
    case "GetItem": {
      const projection = text(body.ProjectionExpression);
      const attributes =
        projection === undefined ? undefined : [...Object.keys(key), ...named(projection)];
      return [item(table, key, attributes, {})];
    }
    case "PutItem": {
      const put = record(body.Item);
      return [
        item(table, put, [...Object.keys(put), ...named(body.ConditionExpression)], returnValues),
      ];
    }
    case "UpdateItem":
      return [
        item(
          table,
          key,
          [...Object.keys(key), ...named(body.UpdateExpression, body.ConditionExpression)],
          returnValues,
        ),
      ];
    case "DeleteItem":
      return [
        item(table, key, [...Object.keys(key), ...named(body.ConditionExpression)], returnValues),
      ];
    case "Query": {
      const keys = keysOf(table);
      const index = text(body.IndexName);
      const partitionKey = index === undefined ? keys.partitionKey : keys.indexes[index];
      if (partitionKey === undefined) {
        throw new UnmodelledCall(`dynamodb:Query on unknown index ${index} of ${table}`);
      }
      const values = record(body.ExpressionAttributeValues);
      const leading = partitionValue(text(body.KeyConditionExpression) ?? "", partitionKey, names);
      const projection = text(body.ProjectionExpression);
      return [
        {
          resource: index === undefined ? tableArn(table) : `${tableArn(table)}/index/${index}`,
          context: {
            "dynamodb:LeadingKeys": [
              scalar(leading === undefined ? undefined : values[leading], `Query ${partitionKey}`),
            ],
            ...(projection === undefined
              ? {}
              : { "dynamodb:Attributes": distinct(named(projection, body.FilterExpression)) }),
            "dynamodb:Select":
              text(body.Select) ??
              (projection === undefined ? "ALL_ATTRIBUTES" : "SPECIFIC_ATTRIBUTES"),
            ...consumed,
          },
        },
      ];
    }
    case "BatchGetItem":
      return Object.entries(record(body.RequestItems)).map(([batchTable, request]) => {
        const { partitionKey } = keysOf(batchTable);
        const read = record(request);
        const projection = text(read.ProjectionExpression);
        const readNames = asStrings(read.ExpressionAttributeNames);
        const keyList = records(read.Keys);
        return {
          resource: tableArn(batchTable),
          context: {
            "dynamodb:LeadingKeys": distinct(
              keyList.map((each) => scalar(each[partitionKey], `BatchGetItem ${partitionKey}`)),
            ),
            ...(projection === undefined
              ? {}
              : {
                  "dynamodb:Attributes": distinct([
                    ...keyList.flatMap((each) => Object.keys(each)),
                    ...attributeNames(projection, readNames),
                  ]),
                }),
            ...consumed,
          },
        };
      });
  }
  throw new UnmodelledCall(`dynamodb:${operation} is not modelled by the recorder`);
}

const EXPRESSION_WORDS = new Set([
  "SET",
  "REMOVE",
  "ADD",
  "DELETE",
  "AND",
  "OR",
  "NOT",
  "BETWEEN",
  "IN",
]);

/**
 * The top-level attribute names an expression names (`#name` resolved): a path's first
 * element, never a function name, a keyword or a `:value`.
 */
export function attributeNames(
  expression: string | undefined,
  names: Readonly<Record<string, string>>,
): string[] {
  if (expression === undefined) return [];
  const found: string[] = [];
  const token = /(:?)(#?[A-Za-z_][A-Za-z0-9_]*)/g;
  for (const match of expression.matchAll(token)) {
    const [whole, colon, name] = match;
    const start = match.index;
    if (colon !== "" || name === undefined) continue;
    const before = expression.slice(0, start).trimEnd();
    if (before.endsWith(".")) continue;
    const after = expression.slice(start + whole.length).trimStart();
    if (after.startsWith("(")) continue;
    if (EXPRESSION_WORDS.has(name.toUpperCase())) continue;
    const resolved = name.startsWith("#") ? names[name] : name;
    if (resolved === undefined)
      throw new UnmodelledCall(`${name} is not in ExpressionAttributeNames`);
    found.push(resolved);
  }
  return found;
}

/** The `:value` a key condition compares the partition key with, by equality. */
export function partitionValue(
  condition: string,
  partitionKey: string,
  names: Readonly<Record<string, string>>,
): string | undefined {
  for (const match of condition.matchAll(/(#?[A-Za-z_][\w]*)\s*=\s*(:[\w]+)/g)) {
    const [, name, value] = match;
    if (name === undefined) continue;
    const resolved = name.startsWith("#") ? names[name] : name;
    if (resolved === partitionKey) return value;
  }
  return undefined;
}

/** A DynamoDB attribute value's scalar as text: `{"S": "x"}` → `x`. */
function scalar(value: unknown, what: string): string {
  const typed = record(value);
  const found = text(typed.S) ?? text(typed.N) ?? text(typed.B);
  if (found === undefined) throw new UnmodelledCall(`${what}: no scalar partition key value`);
  return found;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.map(record) : [];
}

function asStrings(value: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record(value)).filter((entry): entry is [string, string] => {
      return typeof entry[1] === "string";
    }),
  );
}

function distinct(values: string[]): string[] {
  return [...new Set(values)];
}
