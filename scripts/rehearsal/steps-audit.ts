/**
 * The audit: forbidden calls denied, and every call the functions made checked against the
 * deployed policies.
 */
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GenerateMacCommand, KMSClient } from "@aws-sdk/client-kms";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { EXECUTION_REQUESTED_DETAIL_TYPE } from "../../infra/constructs/bus-publishing.js";
import { EMULATED } from "./moto.js";
import { countBy, credentials, expect, type FunctionRole, roleOf, type Step } from "./world.js";

export const AUDIT_STEPS: readonly Step[] = [
  {
    title: "forbidden calls are denied",
    async run(world) {
      const recorder = world.need(world.recorder, "recorder");
      world.flowCalls = [...recorder.calls];
      const as = (role: FunctionRole) => {
        const { caller } = world.fn(role).fn;
        return {
          endpoint: recorder.endpoint,
          region: EMULATED.region,
          credentials: credentials(caller),
        };
      };
      const deployed = world.deployed();
      const probes: Array<[string, () => Promise<unknown>]> = [
        [
          "the poll sends an execution request",
          () =>
            new EventBridgeClient(as("poll")).send(
              new PutEventsCommand({
                Entries: [
                  {
                    EventBusName: deployed.busName,
                    Source: deployed.eventSource,
                    DetailType: EXECUTION_REQUESTED_DETAIL_TYPE,
                    Detail: JSON.stringify({ requestId: "dcr_FORGED", token: "forged" }),
                  },
                ],
              }),
            ),
        ],
        [
          "the poll writes a decommission request",
          () =>
            new DynamoDBClient(as("poll")).send(
              new PutItemCommand({
                TableName: deployed.tableName,
                Item: { pk: { S: "DCR" }, sk: { S: "dcr_FORGED" }, status: { S: "APPROVED" } },
              }),
            ),
        ],
        [
          "the API reads the write secret",
          () =>
            new SecretsManagerClient(as("api")).send(
              new GetSecretValueCommand({ SecretId: deployed.writeSecretArn }),
            ),
        ],
        [
          "the webhook receiver writes a device",
          () =>
            new DynamoDBClient(as("webhookReceiver")).send(
              new PutItemCommand({
                TableName: deployed.tableName,
                Item: { pk: { S: "EVSE" }, sk: { S: `evse${"0".repeat(26)}` } },
              }),
            ),
        ],
        [
          "the webhook worker reads the write secret",
          () =>
            new SecretsManagerClient(as("webhookWorker")).send(
              new GetSecretValueCommand({ SecretId: deployed.writeSecretArn }),
            ),
        ],
        [
          "the executor signs an approval",
          () =>
            new KMSClient(as("executor")).send(
              new GenerateMacCommand({
                KeyId: deployed.approvalKeyArn,
                MacAlgorithm: "HMAC_SHA_256",
                Message: Buffer.from("forged approval"),
              }),
            ),
        ],
      ];
      const lines: string[] = [];
      for (const [what, probe] of probes) {
        const from = recorder.calls.length;
        const errorName = await probe().then(
          () => "none",
          (error: unknown) => (error instanceof Error ? error.name : String(error)),
        );
        const call = recorder.calls[from];
        world.probes.push({ what, errorName, ...(call === undefined ? {} : { call }) });
        expect(errorName === "AccessDeniedException", `${what}: answered ${errorName}`);
        expect(
          call !== undefined && call.decision !== "Allowed",
          `${what}: not denied by the policies`,
        );
        lines.push(`${what}: ${call?.requests[0]?.action} → ${call?.decision}`);
      }
      return lines;
    },
  },
  {
    title: "every AWS call the functions made, checked against the deployed policies",
    always: true,
    async run(world) {
      const calls = world.flowCalls ?? world.recorder?.calls ?? [];
      const bad = calls.filter((call) => call.decision !== "Allowed" || call.problems.length > 0);
      const byFunction = new Map<string, string[]>();
      for (const call of calls) {
        const key = roleOf(world, call.caller);
        byFunction.set(key, [...(byFunction.get(key) ?? []), `${call.service}:${call.operation}`]);
      }
      const lines = [...byFunction].map(([role, actions]) => `${role}: ${countBy(actions)}`);
      for (const call of bad.slice(0, 10)) {
        const asked = call.requests.map((request) => {
          const keys = Object.entries(request.context).filter(
            ([key]) => !key.startsWith("aws:") && !key.startsWith("lambda:"),
          );
          return `${request.action} on ${request.resource} ${JSON.stringify(Object.fromEntries(keys))}`;
        });
        lines.push(
          `✗ ${roleOf(world, call.caller)}: ${asked.join("; ") || `${call.service}:${call.operation}`} → ${call.decision}${call.problems.length > 0 ? ` (${call.problems.join("; ")})` : ""}`,
        );
      }
      expect(calls.length > 0, "no call was recorded");
      if (bad.length > 0) {
        throw new Error(
          [`${bad.length} of ${calls.length} calls are not allowed as made`, ...lines].join("\n"),
        );
      }
      lines.unshift(`${calls.length} calls, all allowed, every condition key supplied`);
      return lines;
    },
  },
];
