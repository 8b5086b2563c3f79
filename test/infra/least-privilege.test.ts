/**
 * Least privilege and safe defaults, proven on the synthesised templates of both stages: the
 * checks walk every resource of a type, so a function or queue added later is held to them too.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Match, type Template } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXECUTION_REQUESTED_DETAIL_TYPE } from "../../infra/constructs/bus-publishing.js";
import { REPO_ROOT } from "../../infra/constructs/lambda-function.js";
import {
  getAtt,
  isObject,
  type Json,
  type JsonObject,
  logicalId,
  properties,
  resolveCrossStack,
  resourceOf,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

function resourcesOf(template: Template, type: string): Array<[string, JsonObject]> {
  const found: Record<string, Json> = template.findResources(type);
  return Object.entries(found).flatMap(([id, resource]) =>
    isObject(resource) ? [[id, resource] as [string, JsonObject]] : [],
  );
}

function refOrGetAttId(value: Json | undefined): string | undefined {
  if (!isObject(value)) return undefined;
  if (typeof value.Ref === "string") return value.Ref;
  const getAtt = value["Fn::GetAtt"];
  return Array.isArray(getAtt) && typeof getAtt[0] === "string" ? getAtt[0] : undefined;
}

interface Grant {
  readonly role: string;
  readonly actions: string[];
  readonly resources: Json[];
  readonly condition: Json | undefined;
}

/** Every Allow statement of every IAM policy in the stateless stack, per role. */
function grants(stage: SynthesisedStage): Grant[] {
  const result: Grant[] = [];
  for (const [, policy] of resourcesOf(stage.statelessTemplate, "AWS::IAM::Policy")) {
    const props = resolveCrossStack(properties(policy), stage.statefulTemplate);
    if (!isObject(props)) continue;
    const roles = (Array.isArray(props.Roles) ? props.Roles : []).map(refOrGetAttId);
    const document = props.PolicyDocument;
    const statements =
      isObject(document) && Array.isArray(document.Statement) ? document.Statement : [];
    for (const statement of statements) {
      if (!isObject(statement) || statement.Effect !== "Allow") continue;
      const actions = [statement.Action].flat().filter((a): a is string => typeof a === "string");
      const resources = [statement.Resource].flat().map((r) => r ?? null);
      for (const role of roles) {
        if (role !== undefined) {
          result.push({ role, actions, resources, condition: statement.Condition });
        }
      }
    }
  }
  return result;
}

/** The roles allowed to read the secret (whose resource is `secretRef`). */
function readersOf(stage: SynthesisedStage, secretRef: Json): string[] {
  const serialised = JSON.stringify(secretRef);
  const readers = grants(stage)
    .filter((grant) => grant.actions.includes("secretsmanager:GetSecretValue"))
    .filter((grant) => grant.resources.some((r) => JSON.stringify(r) === serialised))
    .map((grant) => grant.role);
  return [...new Set(readers)].sort();
}

describe("least privilege and safe defaults", () => {
  let dev: SynthesisedStage;
  let prod: SynthesisedStage;

  beforeAll(() => {
    dev = synthStage("dev");
    prod = synthStage("prod");
  });

  afterAll(() => {
    dev?.cleanUp();
    prod?.cleanUp();
  });

  const stages = () => [dev, prod];

  /** The role of each function, by name. */
  function roles(stage: SynthesisedStage) {
    const { poller, decommission } = stage.stateless;
    return {
      poll: logicalId(poller.pollFunction.role),
      api: logicalId(decommission.apiFunction.role),
      executor: logicalId(decommission.executorFunction.role),
      reconciler: logicalId(decommission.reconcilerFunction.role),
      deadLetters: logicalId(decommission.deadLetterFunction.role),
      webhookReceiver: logicalId(stage.stateless.webhooks.receiverFunction.role),
      webhookWorker: logicalId(stage.stateless.webhooks.workerFunction.role),
    };
  }

  describe("secrets", () => {
    it("only the poll function and the webhook worker read the read-scoped secret", () => {
      for (const stage of stages()) {
        const secret = { Ref: logicalId(stage.stateful.readSecret) };
        expect(readersOf(stage, secret)).toEqual([roles(stage).poll, roles(stage).webhookWorker]);
      }
    });

    it("only the webhook receiver reads the webhook signing secret", () => {
      for (const stage of stages()) {
        const secret = { Ref: logicalId(stage.stateful.webhookSecret) };
        expect(readersOf(stage, secret)).toEqual([roles(stage).webhookReceiver]);
      }
    });

    it("only the executor reads the write-scoped secret, and only where execution is on (prod)", () => {
      expect(readersOf(prod, { Ref: logicalId(prod.stateful.writeSecret) })).toEqual([
        roles(prod).executor,
      ]);
      // dev's execution is off (decommission.executor.enabled): nothing may read it.
      expect(readersOf(dev, { Ref: logicalId(dev.stateful.writeSecret) })).toEqual([]);
    });

    it("the API function reads no secret at all", () => {
      for (const stage of stages()) {
        const api = grants(stage).filter((grant) => grant.role === roles(stage).api);
        expect(api.length).toBeGreaterThan(0);
        for (const grant of api) {
          expect(grant.actions.some((action) => action.startsWith("secretsmanager:"))).toBe(false);
        }
      }
    });
  });

  describe("state table items", () => {
    /** The function roles' DynamoDB statements, by function. */
    function dynamoGrants(stage: SynthesisedStage) {
      const all = grants(stage).filter((grant) =>
        grant.actions.some((action) => action.startsWith("dynamodb:")),
      );
      return Object.fromEntries(
        Object.entries(roles(stage)).map(([name, role]) => [
          name,
          all
            .filter((grant) => grant.role === role)
            .map(({ actions, resources, condition }) => ({
              actions: [...actions].sort(),
              resources,
              condition,
            })),
        ]),
      );
    }

    const held = (operator: string, keys: string[]) => ({
      [`ForAllValues:${operator}`]: { "dynamodb:LeadingKeys": keys },
      Null: { "dynamodb:LeadingKeys": "false" },
    });

    it("each function may touch only its own partitions, with only the actions it uses", () => {
      for (const stage of stages()) {
        const table = getAtt(stage.stateful.table);
        const index = { "Fn::Join": ["", [table, "/index/gsi1"]] };
        const on = (actions: string[], operator: string, keys: string[]) => ({
          actions: actions.map((action) => `dynamodb:${action}`),
          resources: [table],
          condition: held(operator, keys),
        });
        const listByStatus = { actions: ["dynamodb:Query"], resources: [index] };
        const offlineIndex = { "Fn::Join": ["", [table, "/index/gsi2"]] };
        // CDK merges the API's two index grants (requests by status, the offline index).
        const listByStatusAndOffline = {
          actions: ["dynamodb:Query"],
          resources: [index, offlineIndex],
        };
        // Requests read and moved (never created or deleted), guards freed, the switch read.
        const settling = [
          on(["GetItem", "UpdateItem"], "StringEquals", ["DCR"]),
          on(["DeleteItem"], "StringLike", ["EVSE_OPEN#*"]),
          on(["GetItem"], "StringEquals", ["CONTROL"]),
        ];

        expect(dynamoGrants(stage)).toEqual({
          poll: [
            on(["GetItem", "PutItem", "Query"], "StringEquals", ["EVSE"]),
            // The checkpoint, and the rollups (transitions appended): the only writer of both.
            on(["UpdateItem"], "StringLike", ["POLL", "AVAIL#*"]),
            on(["Query", "UpdateItem"], "StringEquals", ["LEDGER"]),
            // History entries and the snapshot: put by the poll alone, never read by it.
            on(["PutItem"], "StringLike", ["HIST#*", "FLEET"]),
            on(["GetItem"], "StringEquals", ["CONTROL"]),
          ],
          api: [
            on(["BatchGetItem", "GetItem", "PutItem", "Query", "UpdateItem"], "StringEquals", [
              "DCR",
            ]),
            on(["PutItem", "Query"], "StringLike", ["DCR_EVSE#*"]),
            on(["DeleteItem", "GetItem", "PutItem"], "StringLike", ["EVSE_OPEN#*"]),
            on(["DeleteItem", "GetItem", "PutItem", "UpdateItem"], "StringLike", ["IDEMPOTENCY#*"]),
            on(["GetItem", "Query"], "StringEquals", ["EVSE"]),
            // Fleet health, read only: history pages, rollups by month or by device, the snapshot.
            on(["Query"], "StringLike", ["HIST#*"]),
            on(["BatchGetItem", "Query"], "StringLike", ["AVAIL#*"]),
            on(["GetItem"], "StringEquals", ["FLEET"]),
            listByStatusAndOffline,
          ],
          executor: [
            ...settling,
            {
              actions: ["dynamodb:UpdateItem"],
              resources: [table],
              condition: {
                "ForAllValues:StringEquals": {
                  "dynamodb:LeadingKeys": ["EVSE"],
                  "dynamodb:Attributes": ["pk", "sk", "lifecycle", "lastChangedAt", "version"],
                },
                StringEqualsIfExists: { "dynamodb:ReturnValues": "NONE" },
                Null: { "dynamodb:LeadingKeys": "false" },
              },
            },
          ],
          reconciler: [...settling, listByStatus],
          deadLetters: settling,
          // The receiver verifies and queues: no item at all.
          webhookReceiver: [],
          // Its claims and ledger, and deliberately the poll's write of the one device a
          // webhook names with its history entries and rollup; never a range read, the lease,
          // the poll's ledger, the snapshot or a request.
          webhookWorker: [
            on(["GetItem", "PutItem"], "StringLike", ["WEBHOOK#*", "EVSE"]),
            on(["GetItem", "UpdateItem"], "StringEquals", ["WEBHOOK_LEDGER"]),
            on(["PutItem"], "StringLike", ["HIST#*"]),
            on(["UpdateItem"], "StringLike", ["AVAIL#*"]),
          ],
        });
      }
    });

    it("no role may Scan, use PartiQL or batch-write, and every table statement holds its partition keys", () => {
      for (const stage of stages()) {
        const table = JSON.stringify(getAtt(stage.stateful.table));
        for (const grant of grants(stage)) {
          for (const action of grant.actions) {
            expect(action, grant.role).not.toMatch(
              /^dynamodb:(Scan|PartiQL|BatchWriteItem|ExecuteStatement|ExecuteTransaction|TransactWriteItems)/,
            );
          }
          if (!grant.resources.some((resource) => JSON.stringify(resource) === table)) continue;
          expect(grant.condition, grant.role).toMatchObject({
            Null: { "dynamodb:LeadingKeys": "false" },
          });
          const condition = isObject(grant.condition) ? grant.condition : {};
          const operators = Object.keys(condition).filter((operator) => {
            const block = condition[operator];
            return isObject(block) && block["dynamodb:LeadingKeys"] !== undefined;
          });
          // Exactly one operator holds the keys, besides the Null check that requires them.
          expect(
            operators.filter((operator) => operator !== "Null"),
            grant.role,
          ).toEqual([expect.stringMatching(/^ForAllValues:String(Equals|Like)$/)]);
        }
      }
    });
  });

  describe("the approval key", () => {
    it("only the API may sign approvals and only the executor verify them; nothing else on it", () => {
      for (const stage of stages()) {
        const key = JSON.stringify(getAtt(stage.stateful.approvalKey));
        const kms = grants(stage).filter((grant) =>
          grant.actions.some((action) => action.startsWith("kms:")),
        );
        const { api, executor } = roles(stage);

        expect(
          kms.map(({ role, actions, resources }) => ({
            role,
            actions,
            resources: resources.map((resource) => JSON.stringify(resource)),
          })),
        ).toEqual(
          expect.arrayContaining([
            { role: api, actions: ["kms:GenerateMac"], resources: [key] },
            { role: executor, actions: ["kms:VerifyMac"], resources: [key] },
          ]),
        );
        expect(kms).toHaveLength(2);
      }
    });
  });

  describe("the executor's queue", () => {
    it("no role may send to it: only the bus rule, through the queue policy", () => {
      for (const stage of stages()) {
        const queue = getAtt(stage.stateless.decommission.executionQueue);
        const senders = grants(stage).filter(
          (grant) =>
            grant.actions.some((action) => action === "sqs:SendMessage" || action === "sqs:*") &&
            grant.resources.some((r) => JSON.stringify(r) === JSON.stringify(queue)),
        );
        expect(senders).toEqual([]);

        stage.statelessTemplate.hasResourceProperties("AWS::SQS::QueuePolicy", {
          Queues: [{ Ref: logicalId(stage.stateless.decommission.executionQueue) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Condition: {
                  ArnEquals: {
                    "aws:SourceArn": getAtt(stage.stateless.decommission.executionRule),
                  },
                },
              }),
            ]),
          },
        });
      }
    });

    it("only the API and the reconciler may publish the event the rule turns into a message", () => {
      for (const stage of stages()) {
        const publishers = grants(stage).filter((grant) =>
          grant.actions.includes("events:PutEvents"),
        );
        const byRole = new Map<string, Json | undefined>();
        for (const grant of publishers) {
          // Every PutEvents grant is limited to the app's source and named detail-types.
          expect(grant.condition, grant.role).toMatchObject({
            "ForAllValues:StringEquals": {
              "events:source": ["evse-ops"],
              "events:detail-type": expect.any(Array),
            },
          });
          byRole.set(grant.role, grant.condition);
        }
        const enqueuers = [...byRole]
          .filter(([, condition]) =>
            JSON.stringify(condition).includes(`"${EXECUTION_REQUESTED_DETAIL_TYPE}"`),
          )
          .map(([role]) => role)
          .sort();
        const { api, reconciler, poll } = roles(stage);

        expect(byRole.has(poll)).toBe(true);
        expect(enqueuers).toEqual([api, reconciler].sort());
      }
    });

    it("the poller may publish only its change and fleet events", () => {
      for (const stage of stages()) {
        const poll = grants(stage).filter(
          (grant) => grant.role === roles(stage).poll && grant.actions.includes("events:PutEvents"),
        );
        expect(poll.map((grant) => grant.condition)).toEqual([
          {
            "ForAllValues:StringEquals": {
              "events:source": ["evse-ops"],
              "events:detail-type": [
                "EVSE Discovered",
                "EVSE Status Changed",
                "EVSE Connectivity Changed",
                "EVSE Removed",
                "EVSE Fleet Connectivity Degraded",
                "EVSE Fleet Connectivity Restored",
              ],
            },
          },
        ]);
      }
    });
  });

  describe("the decommission API", () => {
    it("requires AWS_IAM on every method; the stack's only other method is the webhook POST", () => {
      for (const stage of stages()) {
        const methods = resourcesOf(stage.statelessTemplate, "AWS::ApiGateway::Method");
        const decommissionApi = { Ref: logicalId(stage.stateless.decommission.api) };
        const webhookApi = { Ref: logicalId(stage.stateless.webhooks.api) };
        const ofApi = (api: Json) =>
          methods.filter(([, method]) => isDeepEqual(properties(method).RestApiId, api));
        expect(ofApi(decommissionApi).length).toBeGreaterThan(0);
        for (const [id, method] of ofApi(decommissionApi)) {
          expect(properties(method).AuthorizationType, id).toBe("AWS_IAM");
        }
        // ev.energy cannot sign with AWS credentials: its one method checks Svix signatures.
        const webhookMethods = ofApi(webhookApi);
        expect(webhookMethods.map(([, method]) => properties(method).HttpMethod)).toEqual(["POST"]);
        expect(ofApi(decommissionApi).length + webhookMethods.length).toBe(methods.length);
      }
    });

    it("admits only the deploying account by default, denies everyone else, and non-approvers the decisions", () => {
      for (const stage of stages()) {
        const approverRole = stage.stateless.approvers.role;
        if (approverRole === undefined) throw new Error("the committed stages create the role");
        const api = resourceOf(stage.statelessTemplate, stage.stateless.decommission.api);
        const root = {
          "Fn::Join": [
            "",
            ["arn:", { Ref: "AWS::Partition" }, ":iam::", { Ref: "AWS::AccountId" }, ":root"],
          ],
        };
        expect(properties(api).Policy).toEqual({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "AllowConfiguredAccounts",
              Effect: "Allow",
              Principal: { AWS: root },
              Action: "execute-api:Invoke",
              Resource: "execute-api:/*",
            },
            {
              Sid: "DenyEveryoneElse",
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: "execute-api:Invoke",
              Resource: "execute-api:/*",
              Condition: {
                StringNotEquals: { "aws:PrincipalAccount": [{ Ref: "AWS::AccountId" }] },
              },
            },
            {
              Sid: "DenyDecisionsByNonApprovers",
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: "execute-api:Invoke",
              Resource: [
                "execute-api:/*/POST/decommission-requests/*/approve*",
                "execute-api:/*/POST/decommission-requests/*/reject*",
              ],
              Condition: { ArnNotLike: { "aws:PrincipalArn": [getAtt(approverRole)] } },
            },
          ],
        });
      }
    });
  });

  describe("IAM", () => {
    it("grants Resource * only for X-Ray, which supports nothing narrower", () => {
      for (const stage of stages()) {
        const starGrants = grants(stage).filter((grant) => grant.resources.includes("*"));
        expect(starGrants.length).toBeGreaterThan(0);
        for (const grant of starGrants) {
          expect(grant.actions.sort()).toEqual([
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
          ]);
        }
      }
    });

    it("grants no action wildcard such as dynamodb:* or s3:Get*", () => {
      for (const stage of stages()) {
        for (const grant of grants(stage)) {
          for (const action of grant.actions) expect(action, grant.role).not.toMatch(/\*/);
        }
      }
    });

    it("attaches an AWS managed policy only to API Gateway's account logging role", () => {
      for (const stage of stages()) {
        const withManaged = resourcesOf(stage.statelessTemplate, "AWS::IAM::Role").filter(
          ([, role]) => properties(role).ManagedPolicyArns !== undefined,
        );
        expect(withManaged.map(([id]) => id)).toEqual([
          logicalId(stage.stateless.decommission.api.node.findChild("CloudWatchRole")),
        ]);
        const [[, role] = ["", {}]] = withManaged;
        expect(JSON.stringify(properties(role))).toContain(
          "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        );
        expect(JSON.stringify(properties(role).AssumeRolePolicyDocument)).toContain(
          "apigateway.amazonaws.com",
        );
      }
    });
  });

  describe("queues", () => {
    /** Queues some other resource sends its failures to. */
    function deadLetterTargets(template: Template): Set<string> {
      const targets = new Set<string>();
      const add = (value: Json | undefined) => {
        const id = refOrGetAttId(value);
        if (id !== undefined) targets.add(id);
      };
      for (const [, queue] of resourcesOf(template, "AWS::SQS::Queue")) {
        const redrive = properties(queue).RedrivePolicy;
        if (isObject(redrive)) add(redrive.deadLetterTargetArn);
      }
      for (const [, config] of resourcesOf(template, "AWS::Lambda::EventInvokeConfig")) {
        const destinations = properties(config).DestinationConfig;
        const onFailure = isObject(destinations) ? destinations.OnFailure : undefined;
        if (isObject(onFailure)) add(onFailure.Destination);
      }
      for (const [, schedule] of resourcesOf(template, "AWS::Scheduler::Schedule")) {
        const target = properties(schedule).Target;
        const dlq = isObject(target) ? target.DeadLetterConfig : undefined;
        if (isObject(dlq)) add(dlq.Arn);
      }
      for (const [, rule] of resourcesOf(template, "AWS::Events::Rule")) {
        const targets = properties(rule).Targets;
        for (const target of Array.isArray(targets) ? targets : []) {
          const dlq = isObject(target) ? target.DeadLetterConfig : undefined;
          if (isObject(dlq)) add(dlq.Arn);
        }
      }
      for (const [, mapping] of resourcesOf(template, "AWS::Lambda::EventSourceMapping")) {
        const destinations = properties(mapping).DestinationConfig;
        const onFailure = isObject(destinations) ? destinations.OnFailure : undefined;
        if (isObject(onFailure)) add(onFailure.Destination);
      }
      return targets;
    }

    it("are all encrypted", () => {
      for (const stage of stages()) {
        const queues = resourcesOf(stage.statelessTemplate, "AWS::SQS::Queue");
        expect(queues.length).toBeGreaterThan(0);
        for (const [id, queue] of queues) {
          const props = properties(queue);
          expect(
            props.SqsManagedSseEnabled === true || props.KmsMasterKeyId !== undefined,
            id,
          ).toBe(true);
        }
      }
    });

    it("all refuse requests that do not use TLS", () => {
      for (const stage of stages()) {
        const tlsOnly = new Set<string>();
        for (const [, policy] of resourcesOf(stage.statelessTemplate, "AWS::SQS::QueuePolicy")) {
          const props = properties(policy);
          const document = props.PolicyDocument;
          const statements =
            isObject(document) && Array.isArray(document.Statement) ? document.Statement : [];
          const denies = statements.some(
            (s) =>
              isObject(s) &&
              s.Effect === "Deny" &&
              JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
          );
          if (!denies) continue;
          for (const queue of Array.isArray(props.Queues) ? props.Queues : []) {
            const id = refOrGetAttId(queue);
            if (id !== undefined) tlsOnly.add(id);
          }
        }
        for (const [id] of resourcesOf(stage.statelessTemplate, "AWS::SQS::Queue")) {
          expect(tlsOnly.has(id), id).toBe(true);
        }
      }
    });

    it("each either is a dead-letter queue of something or has one", () => {
      for (const stage of stages()) {
        const targets = deadLetterTargets(stage.statelessTemplate);
        for (const [id, queue] of resourcesOf(stage.statelessTemplate, "AWS::SQS::Queue")) {
          const hasDeadLetterQueue = isObject(properties(queue).RedrivePolicy);
          expect(hasDeadLetterQueue || targets.has(id), id).toBe(true);
          // A dead-letter queue needs no dead-letter queue of its own; no queue is both.
          expect(hasDeadLetterQueue && targets.has(id), id).toBe(false);
        }
      }
    });
  });

  describe("functions", () => {
    it("all run on arm64 with a stated timeout of at most 15 minutes", () => {
      for (const stage of stages()) {
        const functions = resourcesOf(stage.statelessTemplate, "AWS::Lambda::Function");
        expect(functions.length).toBeGreaterThan(0);
        for (const [id, fn] of functions) {
          const props = properties(fn);
          expect(props.Architectures, id).toEqual(["arm64"]);
          expect(typeof props.Timeout, id).toBe("number");
          expect(Number(props.Timeout), id).toBeLessThanOrEqual(900);
        }
      }
    });

    it("all log to their own log group, with the stage's bounded retention", () => {
      for (const [stage, days] of [
        [dev, 14],
        [prod, 90],
      ] as const) {
        const template = stage.statelessTemplate;
        const logGroups = new Map(resourcesOf(template, "AWS::Logs::LogGroup"));
        const used = new Set<string>();
        for (const [id, fn] of resourcesOf(template, "AWS::Lambda::Function")) {
          const logging = properties(fn).LoggingConfig;
          const group = refOrGetAttId(isObject(logging) ? logging.LogGroup : undefined);
          expect(group, id).toBeDefined();
          const resource = group === undefined ? undefined : logGroups.get(group);
          expect(resource, id).toBeDefined();
          if (resource !== undefined) {
            expect(properties(resource).RetentionInDays, id).toBe(days);
          }
          if (group !== undefined) {
            expect(used.has(group), `${id} shares a log group`).toBe(false);
            used.add(group);
          }
        }
        for (const [id, group] of logGroups) {
          expect(properties(group).RetentionInDays, id).toBe(days);
        }
      }
    });
  });

  describe("the deploy guide: the outputs it reads, the policies of deploying without administrator rights (docs/deploy)", () => {
    it("reads only outputs the stacks have", () => {
      const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
      const wanted = [...readme.matchAll(/\$\(output (stateful|stateless) (\w+)\)/g)];
      expect(wanted.length).toBeGreaterThanOrEqual(8);
      for (const stage of stages()) {
        for (const [, stack, key] of wanted) {
          const template = stack === "stateful" ? stage.statefulTemplate : stage.statelessTemplate;
          expect(Object.keys(template.toJSON().Outputs ?? {}), `${stack} ${key}`).toContain(key);
        }
      }
    });

    /** The IAM service prefix of each kind of resource the stacks hold; null: none needed. */
    const SERVICE_OF: Readonly<Record<string, string | null>> = {
      ApiGateway: "apigateway",
      CloudWatch: "cloudwatch",
      DynamoDB: "dynamodb",
      Events: "events",
      IAM: "iam",
      KMS: "kms",
      Lambda: "lambda",
      Logs: "logs",
      Scheduler: "scheduler",
      SecretsManager: "secretsmanager",
      SNS: "sns",
      SQS: "sqs",
      CDK: null,
    };
    const policy = (name: string): JsonObject => {
      const document: Json = JSON.parse(
        readFileSync(join(REPO_ROOT, "docs", "deploy", name), "utf8"),
      );
      if (!isObject(document) || !Array.isArray(document.Statement)) {
        throw new Error(`${name} is not a policy document`);
      }
      expect(document.Version).toBe("2012-10-17");
      return document;
    };
    const statements = (document: JsonObject) => (document.Statement as Json[]).filter(isObject);
    const templates = () =>
      stages().flatMap((stage) => [
        [stage.stateful.stackName, stage.statefulTemplate] as const,
        [stage.stateless.stackName, stage.statelessTemplate] as const,
      ]);

    it("let CloudFormation create every kind of resource the templates hold, and no IAM beyond roles", () => {
      const execution = policy("cloudformation-execution-policy.json");
      const granted = new Set(
        statements(execution)
          .filter((statement) => statement.Resource === "*" && statement.Condition === undefined)
          .flatMap((statement) => [statement.Action].flat())
          .filter((action): action is string => typeof action === "string"),
      );
      for (const [stack, template] of templates()) {
        expect(stack).toMatch(/^evse-ops-/);
        for (const [id, resource] of Object.entries(template.toJSON().Resources ?? {})) {
          const type = isObject(resource as Json) ? String((resource as JsonObject).Type) : "";
          const service = SERVICE_OF[type.split("::")[1] ?? ""];
          expect(
            service,
            `${stack}/${id} is a ${type}: add its service to docs/deploy/cloudformation-execution-policy.json and to this map`,
          ).not.toBeUndefined();
          if (service === null || service === undefined) continue;
          if (service === "iam") {
            // Roles (named evse-ops-*, or generated from the evse-ops-* stack name) and their
            // inline policies; no users, groups or managed policies.
            expect(["AWS::IAM::Role", "AWS::IAM::Policy"], `${stack}/${id}`).toContain(type);
            continue;
          }
          expect(granted.has(`${service}:*`), `${stack}/${id} (${type})`).toBe(true);
        }
      }
      // IAM only on roles named evse-ops-*, with no managed policy but API Gateway's logging one.
      const iam = statements(execution).filter((statement) =>
        [statement.Action].flat().some((action) => String(action).startsWith("iam:")),
      );
      for (const statement of iam) {
        if (statement.Action === "iam:CreateServiceLinkedRole") continue;
        expect(statement.Resource).toBe("arn:aws:iam::*:role/evse-ops-*");
      }
    });

    it("match the names the stacks give their roles, secrets, topic, table and log groups", () => {
      for (const [stack, template] of templates()) {
        for (const [id, role] of resourcesOf(template, "AWS::IAM::Role")) {
          const name = properties(role).RoleName;
          // Unnamed: CloudFormation names it <stack>-<id>-<suffix>, which starts with evse-ops-.
          if (name !== undefined) expect(String(name), `${stack}/${id}`).toMatch(/^evse-ops-/);
          for (const managed of [properties(role).ManagedPolicyArns ?? []].flat()) {
            expect(JSON.stringify(managed)).toContain(
              "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            );
          }
        }
        for (const [id, policyResource] of resourcesOf(template, "AWS::IAM::Policy")) {
          expect(properties(policyResource).Users, `${stack}/${id}`).toBeUndefined();
          expect(properties(policyResource).Groups, `${stack}/${id}`).toBeUndefined();
        }
        // The deployer's policy finds the secrets by tag and the rest by name.
        for (const [id, secret] of resourcesOf(template, "AWS::SecretsManager::Secret")) {
          expect(properties(secret).Tags, `${stack}/${id}`).toEqual(
            expect.arrayContaining([{ Key: "project", Value: "evse-ops" }]),
          );
        }
        for (const [id, topic] of resourcesOf(template, "AWS::SNS::Topic")) {
          expect(String(properties(topic).TopicName), `${stack}/${id}`).toMatch(
            /^evse-ops-[a-z0-9-]+-alarms$/,
          );
        }
        for (const type of ["AWS::DynamoDB::GlobalTable", "AWS::Logs::LogGroup"]) {
          for (const [id, resource] of resourcesOf(template, type)) {
            const name = properties(resource).TableName ?? properties(resource).LogGroupName;
            // Unnamed ones are named after the evse-ops-* stack; only API Gateway's is not.
            if (name !== undefined) {
              expect(JSON.stringify(name), `${stack}/${id}`).toMatch(
                /^"evse-ops-|API-Gateway-Execution-Logs_/,
              );
            }
          }
        }
      }
      const deployer = statements(policy("deployer-policy.json"));
      expect(deployer.map((statement) => statement.Sid)).toEqual([
        "DeployDiffAndPublishThroughTheCdkBootstrapRoles",
        "ReadTheStacksAndTheirOutputs",
        "FillTheEvEnergySecrets",
        "SubscribeToTheAlarms",
        "FlipTheSwitches",
        "ReadThePollsLog",
      ]);
    });
  });

  describe("state table", () => {
    it("has point-in-time recovery in every stage and deletion protection in prod", () => {
      for (const [stage, protectedFromDeletion] of [
        [dev, false],
        [prod, true],
      ] as const) {
        stage.statefulTemplate.hasResourceProperties("AWS::DynamoDB::GlobalTable", {
          Replicas: [
            {
              Region: { Ref: "AWS::Region" },
              DeletionProtectionEnabled: protectedFromDeletion,
              PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            },
          ],
        });
      }
    });
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
