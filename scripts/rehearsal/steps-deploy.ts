/**
 * Deploying: the synth, moto and the simulator, both templates through CloudFormation, each
 * function loaded from the emulator, the secrets filled and the poll started.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  CONTROL_PARTITION,
  POLL_PAUSE_SORT_KEY,
} from "../../functions/adapters/dynamodb/table-design.js";
import {
  CHANGE_DETAIL_TYPES,
  DECOMMISSION_DETAIL_TYPES,
} from "../../infra/constructs/bus-publishing.js";
import { startSimulator } from "../../local/simulator/index.js";
import { deploy } from "./deploy.js";
import { ApiGatewayStandIn, SqsEventSource } from "./event-sources.js";
import { LambdaEnvironment, loadFunction } from "./lambda-runner.js";
import { startMoto } from "./moto.js";
import { deployedFacts, deployedPolicies } from "./policy-check.js";
import { startRecorder } from "./recorder.js";
import { synthesize } from "./synth.js";
import {
  expect,
  FUNCTIONS,
  type FunctionRole,
  READER,
  type Step,
  subscribe,
  WRITER,
} from "./world.js";

export const DEPLOY_STEPS: readonly Step[] = [
  {
    title: "synthesize the dev stage into .rehearsal/cdk.out (cdk synth)",
    async run(world) {
      const directory = join(world.workDir, "cdk.out");
      rmSync(directory, { recursive: true, force: true });
      world.assembly = await synthesize(directory);
      const { stateful, stateless } = world.assembly;
      const count = (template: { Resources: object }) => Object.keys(template.Resources).length;
      return [
        `${stateful.name}: ${count(stateful.template)} resources; ${stateless.name}: ${count(stateless.template)} resources, ${stateless.assets.filter((asset) => asset.packaging === "zip").length} bundles`,
      ];
    },
  },
  {
    title: "start moto 5.2.1 and the simulated ev.energy",
    async run(world) {
      world.moto = await startMoto(world.workDir);
      world.simulator = await startSimulator({ clients: [READER, WRITER], staticTokens: [] });
      return [
        `moto on ${world.moto.endpoint} (workarounds: jsonpath parser cache, no SQS-to-Lambda delivery)`,
        `simulator on ${world.simulator.origin}: ${world.simulator.fleet.list().length} EVSEs`,
      ];
    },
  },
  {
    title: "deploy both templates with CloudFormation calls",
    async run(world) {
      const simulator = world.need(world.simulator, "simulator");
      world.deployment = await deploy(
        world.need(world.moto, "moto"),
        world.need(world.assembly, "synth"),
        { apiBaseUrl: simulator.apiBaseUrl, tokenUrl: simulator.tokenUrl },
      );
      const { stateful, stateless, adjustments } = world.deployment;
      return [
        `${stateful.name}, ${stateless.name}: CREATE_COMPLETE`,
        ...adjustments.map(({ name, reason }) => `adjusted: ${name} (${reason})`),
        `skipped by moto, as expected: ${[...new Set([...stateful.skippedTypes, ...stateless.skippedTypes])].join(", ")}`,
      ];
    },
  },
  {
    title: "load each function's bundle and environment from the emulator",
    async run(world) {
      const moto = world.need(world.moto, "moto");
      const deployment = world.need(world.deployment, "deployment");
      world.policies = deployedPolicies(moto);
      world.facts = await deployedFacts(moto, deployment);
      const facts = world.facts;
      world.recorder = await startRecorder(moto.endpoint, world.policies, () => ({
        ...facts,
        now: new Date(),
      }));
      const { stateless } = deployment;
      const lines: string[] = [];
      for (const [role, path] of Object.entries(FUNCTIONS) as Array<[FunctionRole, string]>) {
        const logicalId = Object.entries(stateless.template.Resources).find(
          ([, resource]) =>
            resource.Type === "AWS::Lambda::Function" &&
            (resource.Metadata as { "aws:cdk:path"?: string } | undefined)?.["aws:cdk:path"] ===
              `${stateless.name}/${path}`,
        )?.[0];
        const physical = logicalId === undefined ? undefined : stateless.physicalIds[logicalId];
        if (logicalId === undefined || physical === undefined) throw new Error(`no ${path}`);
        const fn = await loadFunction(
          moto,
          logicalId,
          physical,
          deployment.assetBucket,
          world.workDir,
        );
        world.recorder.register(fn.caller);
        const environment = new LambdaEnvironment(
          fn,
          world.recorder.endpoint,
          join(world.workDir, "logs"),
        );
        world.functions.set(logicalId, environment);
        world.named.set(role, environment);
        lines.push(
          `${role}: ${fn.handler}, ${fn.timeoutSeconds} s, ${Object.keys(fn.environment).length} variables, role ${fn.roleArn.split("/").pop()}`,
        );
      }
      // Two REST APIs, each found from the stack's outputs as an operator would find it.
      const standIn = (physicalId: string | undefined, what: string) => {
        const restApi = Object.entries(stateless.template.Resources).find(
          ([id, resource]) =>
            resource.Type === "AWS::ApiGateway::RestApi" &&
            stateless.physicalIds[id] === physicalId,
        )?.[0];
        const stage = Object.values(stateless.template.Resources).find(
          (resource) =>
            resource.Type === "AWS::ApiGateway::Stage" &&
            JSON.stringify(
              (resource.Properties as { RestApiId?: unknown } | undefined)?.RestApiId,
            ) === JSON.stringify({ Ref: restApi }),
        )?.Properties as { StageName?: string } | undefined;
        return new ApiGatewayStandIn(
          stateless,
          world.need(restApi, what),
          world.need(stage?.StageName, `${what}'s stage`),
          world.functions,
        );
      };
      world.api = standIn(stateless.outputs.DecommissionApiId, "the decommission API");
      world.webhookApi = standIn(
        /^https:\/\/([^.]+)\.execute-api\./.exec(stateless.outputs.WebhookUrl ?? "")?.[1],
        "the webhooks API",
      );
      world.webhookSource = await SqsEventSource.connect(
        moto,
        world.fn("webhookWorker"),
        world.policies,
      );
      world.executionSource = await SqsEventSource.connect(
        moto,
        world.fn("executor"),
        world.policies,
      );
      world.deadLetterSource = await SqsEventSource.connect(
        moto,
        world.fn("deadLetters"),
        world.policies,
      );
      for (const source of [world.executionSource, world.deadLetterSource, world.webhookSource]) {
        lines.push(
          `${source.fn.fn.logicalId} ← SQS: batch ${source.batchSize}, visibility ${source.visibilityTimeoutSeconds} s, ${source.reportBatchItemFailures ? "ReportBatchItemFailures" : "whole batches"}, ${source.redrivePolicy ? `redrive after ${source.redrivePolicy.maxReceiveCount} receives` : "no redrive"}`,
        );
      }
      for (const [name, api] of [
        ["decommission API", world.api],
        ["webhooks API", world.webhookApi],
      ] as const) {
        const permitted = await api.checkInvokePermissions(moto);
        lines.push(
          `${name}: ${api.routes.length} methods, all ${[...new Set(api.routes.map((route) => route.authorization))].join("/")}; API Gateway may invoke the function of ${permitted} (its Lambda permission)`,
        );
      }
      const authorizations = new Set(world.api.routes.map((route) => route.authorization));
      expect(
        authorizations.size === 1 && authorizations.has("AWS_IAM"),
        `the decommission API's methods are ${[...authorizations].join(", ")}, not all AWS_IAM`,
      );
      return lines;
    },
  },
  {
    title: "fill the secrets, start the poll; a subscriber's rule and queue on the bus",
    async run(world) {
      const moto = world.need(world.moto, "moto");
      const secrets = new SecretsManagerClient(moto.clientConfig);
      const deployed = world.deployed();
      // As the README tells an operator: into the secrets the stack's outputs name.
      for (const [secretId, client] of [
        [deployed.readSecretArn, READER],
        [deployed.writeSecretArn, WRITER],
      ] as const) {
        await secrets.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            SecretString: JSON.stringify({
              client_id: client.clientId,
              client_secret: client.clientSecret,
            }),
          }),
        );
      }
      // ev.energy's signing secret, in the shape the README gives ({"current": "whsec_…"}).
      world.webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
      await secrets.send(
        new PutSecretValueCommand({
          SecretId: deployed.webhookSecretArn,
          SecretString: JSON.stringify({ current: world.webhookSecret }),
        }),
      );
      // A new deployment's poll waits for its switch: start it, as the deploy guide does.
      await new DynamoDBClient(moto.clientConfig).send(
        new PutItemCommand({
          TableName: deployed.tableName,
          Item: {
            pk: { S: CONTROL_PARTITION },
            sk: { S: POLL_PAUSE_SORT_KEY },
            paused: { BOOL: false },
            changedBy: { S: "rehearsal" },
            changedAt: { S: new Date().toISOString() },
          },
        }),
      );
      const busName = deployed.busName;
      world.subscriberQueue = await subscribe(world, busName, "rehearsal-subscriber", {
        source: [deployed.eventSource],
        "detail-type": [...CHANGE_DETAIL_TYPES, ...DECOMMISSION_DETAIL_TYPES],
      });
      return [
        `ReadSecretArn ← ${READER.clientId} (evse:read), WriteSecretArn ← ${WRITER.clientId} (evse:write), WebhookSigningSecretArn ← {"current": "whsec_…"}, as the README tells an operator`,
        `poll switch ${CONTROL_PARTITION} / ${POLL_PAUSE_SORT_KEY} ← paused false, as the deploy guide starts a new deployment's poll`,
        `subscriber: rule on ${busName} for ${CHANGE_DETAIL_TYPES.length + DECOMMISSION_DETAIL_TYPES.length} public detail-types → queue rehearsal-subscriber`,
      ];
    },
  },
];
