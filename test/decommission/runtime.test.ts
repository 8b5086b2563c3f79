import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { describe, expect, it } from "vitest";
import type { MacClient } from "../../functions/adapters/kms/approval-mac.js";
import {
  ConfigurationError,
  loadDecommissionApiEnvironment,
  loadDecommissionExecutorEnvironment,
  loadDecommissionReconcilerEnvironment,
} from "../../functions/config.js";
import { EXECUTION_REQUESTED } from "../../functions/core/decommission/model.js";
import {
  BusExecutionQueue,
  createAwsExecutor,
  createDecommissionApi,
  type ExecutionRequestedEvent,
  parseExecutionMessage,
} from "../../functions/decommission-runtime.js";
import type { EventPublisher } from "../../functions/ports.js";
import { ManualClock } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { useDynalite } from "../support/dynamo.js";
import { silentLogger } from "../support/poll-harness.js";
import { TEST_APPROVALS } from "./fixtures.js";

const dynamo = useDynalite();

describe("execution messages", () => {
  it("are read from a direct body or from the EventBridge envelope a bus rule delivers", () => {
    const message = { requestId: "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ", token: "t-1" };
    expect(parseExecutionMessage(JSON.stringify(message))).toEqual(message);
    const envelope = {
      version: "0",
      id: "e1",
      "detail-type": EXECUTION_REQUESTED,
      source: "evse-ops",
      detail: { eventId: "x", detectedAt: "2026-03-02T08:00:00.000Z", ...message },
    };
    expect(parseExecutionMessage(JSON.stringify(envelope))).toEqual(message);
    for (const junk of ["", "{", "[]", "null", '{"requestId":1,"token":"t"}', '{"detail":{}}']) {
      expect(parseExecutionMessage(junk)).toBeUndefined();
    }
  });

  it("go to the bus with an id derived from request and token, and a failed put is an error", async () => {
    const clock = new ManualClock();
    const bus = new RecordingPublisher<ExecutionRequestedEvent>();
    const queue = new BusExecutionQueue(bus, clock);
    await queue.enqueue({ requestId: "dcr_A", token: "t-1" });
    await queue.enqueue({ requestId: "dcr_A", token: "t-1" });
    expect(bus.events).toHaveLength(2);
    expect(bus.events[0]).toMatchObject({
      type: EXECUTION_REQUESTED,
      requestId: "dcr_A",
      token: "t-1",
    });
    expect(bus.events[0]?.eventId).toBe(bus.events[1]?.eventId);
    const down: EventPublisher<ExecutionRequestedEvent> = {
      publish: async (events) => ({ failed: [...events] }),
    };
    await expect(
      new BusExecutionQueue(down, clock).enqueue({ requestId: "dcr_A", token: "t" }),
    ).rejects.toThrow(/did not reach the bus/);
  });
});

describe("the decommission functions' configuration", () => {
  const base = { TABLE_NAME: "t", EVENT_BUS_NAME: "b" };

  it("reads each function's variables with their defaults", () => {
    expect(
      loadDecommissionApiEnvironment({
        ...base,
        APPROVER_ROLE_ARNS:
          "arn:aws:iam::111111111111:role/evse-ops-prod-approver, arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_????????????????",
        APPROVAL_KEY_ID: "arn:aws:kms:eu-west-2:111111111111:key/k",
      }),
    ).toMatchObject({
      APPROVER_ROLE_ARNS: [
        "arn:aws:iam::111111111111:role/evse-ops-prod-approver",
        "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_????????????????",
      ],
      APPROVAL_KEY_ID: "arn:aws:kms:eu-west-2:111111111111:key/k",
      PENDING_EXPIRY_DAYS: 7,
      IDEMPOTENCY_RETENTION_HOURS: 24,
      DECOMMISSION_START_PAUSED: false,
      PAUSE_CACHE_SECONDS: 15,
    });
    expect(
      loadDecommissionExecutorEnvironment({
        ...base,
        EVENERGY_API_URL: "https://api.ev.energy/v2",
        EVENERGY_WRITE_SECRET_ID: "evse-ops/write",
        APPROVAL_KEY_ID: "k",
      }),
    ).toMatchObject({ EVENERGY_WRITE_SCOPE: "evse:write", EXECUTION_MAX_ATTEMPTS: 8 });
    expect(loadDecommissionReconcilerEnvironment(base)).toMatchObject({
      RECONCILE_STALE_MINUTES: 15,
    });
  });

  it("names every missing or wrong variable", () => {
    expect(() =>
      loadDecommissionExecutorEnvironment({ ...base, EXECUTION_MAX_ATTEMPTS: "0" }),
    ).toThrow(
      /EVENERGY_API_URL is not set; APPROVAL_KEY_ID is not set; EXECUTION_MAX_ATTEMPTS.*; EVENERGY_WRITE_SECRET_ID is not set \(required while EXECUTION_ENABLED is true\)/,
    );
    expect(() =>
      loadDecommissionApiEnvironment({
        ...base,
        APPROVER_ROLE_ARNS: "x",
        APPROVAL_KEY_ID: "k",
        IDEMPOTENCY_RETENTION_HOURS: "1",
      }),
    ).toThrow(/IDEMPOTENCY_RETENTION_HOURS must be at least 24/);
    expect(() => loadDecommissionApiEnvironment(base)).toThrow(
      /APPROVER_ROLE_ARNS is not set; APPROVAL_KEY_ID is not set/,
    );
    expect(() =>
      loadDecommissionApiEnvironment({
        ...base,
        APPROVER_ROLE_ARNS: "x",
        APPROVAL_KEY_ID: "k",
        DECOMMISSION_START_PAUSED: "yes",
      }),
    ).toThrow(/DECOMMISSION_START_PAUSED must be true or false/);
  });

  it("needs the write secret's id only while execution is on, and reads whether it is", () => {
    const executor = {
      ...base,
      EVENERGY_API_URL: "https://api.ev.energy/v2",
      APPROVAL_KEY_ID: "k",
    };
    expect(
      loadDecommissionExecutorEnvironment({ ...executor, EXECUTION_ENABLED: "false" }),
    ).toMatchObject({ EXECUTION_ENABLED: false });
    expect(
      loadDecommissionExecutorEnvironment({ ...executor, EXECUTION_ENABLED: "false" })
        .EVENERGY_WRITE_SECRET_ID,
    ).toBeUndefined();
    expect(() =>
      loadDecommissionExecutorEnvironment({ ...executor, EXECUTION_ENABLED: "true" }),
    ).toThrow(/EVENERGY_WRITE_SECRET_ID is not set \(required while EXECUTION_ENABLED is true\)/);
    expect(() =>
      loadDecommissionExecutorEnvironment({
        ...executor,
        EXECUTION_ENABLED: "no",
        EVENERGY_WRITE_SECRET_ID: "s",
      }),
    ).toThrow(/EXECUTION_ENABLED must be true or false/);
    expect(
      loadDecommissionApiEnvironment({
        ...base,
        APPROVER_ROLE_ARNS: "x",
        APPROVAL_KEY_ID: "k",
        EXECUTION_ENABLED: "false",
      }),
    ).toMatchObject({ EXECUTION_ENABLED: false });
  });

  it("builds a disabled executor without any ev.energy client or credential", () => {
    const config = loadDecommissionExecutorEnvironment({
      ...base,
      EVENERGY_API_URL: "https://api.ev.energy/v2",
      APPROVAL_KEY_ID: "k",
      EXECUTION_ENABLED: "false",
    });
    const clients = {
      dynamodb: new DynamoDBClient({ region: "eu-west-2" }),
      eventBridge: new EventBridgeClient({ region: "eu-west-2" }),
      kms: { send: async () => ({ MacValid: false }) } satisfies MacClient,
    };
    expect(() => createAwsExecutor(config, clients, silentLogger)).not.toThrow();
    expect(() =>
      createAwsExecutor({ ...config, EXECUTION_ENABLED: true }, clients, silentLogger),
    ).toThrow(/EVENERGY_WRITE_SECRET_ID is not set/);
  });

  it("refuses an ev.energy URL that would carry tokens in clear across a network", () => {
    const executor = (url: string) =>
      loadDecommissionExecutorEnvironment({
        ...base,
        EVENERGY_API_URL: url,
        EVENERGY_WRITE_SECRET_ID: "s",
        APPROVAL_KEY_ID: "k",
      });
    expect(() => executor("http://api.ev.energy/v2")).toThrow(
      /EVENERGY_API_URL must be an https URL/,
    );
    expect(() => executor("http://10.0.0.5:3001/v2")).toThrow(/EVENERGY_API_URL/);
    expect(executor("http://127.0.0.1:3001/v2").EVENERGY_API_URL).toBe("http://127.0.0.1:3001/v2");
    expect(executor("http://localhost:3001/v2").EVENERGY_API_URL).toBe("http://localhost:3001/v2");
  });

  it("refuses approver roles that are not one named account's roles, naming the variable", async () => {
    const tableName = await dynamo.freshTable();
    const build = (patterns: string[]) =>
      createDecommissionApi(
        {
          documents: dynamo.documents,
          tableName,
          publisher: new RecordingPublisher(),
          queue: { enqueue: async () => undefined },
          clock: new ManualClock(),
          random: () => 0.5,
          logger: silentLogger,
          signer: TEST_APPROVALS,
        },
        { approverPatterns: patterns, pendingExpiryMs: 1, idempotencyRetentionMs: 1 },
      );
    expect(() => build(["arn:aws:iam::*:role/approver"])).toThrow(ConfigurationError);
    expect(() => build(["arn:aws:iam::*:role/approver"])).toThrow(/APPROVER_ROLE_ARNS/);
    expect(() => build(["arn:aws:iam::111111111111:user/approver"])).toThrow(/APPROVER_ROLE_ARNS/);
    expect(() => build(["arn:aws:iam::111111111111:role/ops/approver"])).not.toThrow();
  });
});
