/**
 * Each function touches only its own items, proven with an IAM policy simulator
 * (@cloud-copilot/iam-simulate) on the identity policies the stack synthesises, resolved to the
 * ARNs they would have once deployed (helpers: DEPLOYED, concretePoliciesOfRole).
 *
 * `dynamodb:LeadingKeys` is the partition keys a request touches, `dynamodb:Attributes` the
 * attributes it names and `dynamodb:ReturnValues` what it asks back: DynamoDB supplies them,
 * the tests state them per request.
 */
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEVICE_COMPLETION } from "../../functions/adapters/dynamodb/table-design.js";
import { type Decision, decide as simulate } from "../../scripts/rehearsal/policy-check.js";
import {
  concretePoliciesOfRole,
  concreteValue,
  DEPLOYED,
  getAtt,
  logicalId,
  type SynthesisedStage,
  synthStage,
} from "./helpers.js";

type Context = Record<string, string | string[]>;

const DCR = { "dynamodb:LeadingKeys": ["DCR"] };
const GUARD = { "dynamodb:LeadingKeys": ["EVSE_OPEN#evse01JQBEYCCN0Z44RW00E6GZCE86"] };
const IDEMPOTENCY = {
  "dynamodb:LeadingKeys": ["IDEMPOTENCY#aws:123456789012:role:requester:-"],
};
const POINTER = { "dynamodb:LeadingKeys": ["DCR_EVSE#evse01JQBEYCCN0Z44RW00E6GZCE86"] };
const DEVICE = { "dynamodb:LeadingKeys": ["EVSE"] };
const PAUSE_SWITCH = { "dynamodb:LeadingKeys": ["CONTROL"] };
const HISTORY = { "dynamodb:LeadingKeys": ["HIST#evse01JQBEYCCN0Z44RW00E6GZCE86"] };
const ROLLUP = { "dynamodb:LeadingKeys": ["AVAIL#2026-03"] };
const SNAPSHOT = { "dynamodb:LeadingKeys": ["FLEET"] };
const FLEET_HEALTH = [HISTORY, ROLLUP, SNAPSHOT];
const WRITES = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"];

describe("item access, simulated", () => {
  let dev: SynthesisedStage;
  let table: string;
  let index: string;

  beforeAll(() => {
    dev = synthStage("dev");
    table = String(concreteValue(dev, getAtt(dev.stateful.table)));
    index = `${table}/index/gsi1`;
  });

  afterAll(() => {
    dev?.cleanUp();
  });

  /** What IAM decides when `fn`'s role asks for `action` on `resource` with `context`. */
  async function decide(
    fn: { role: IConstruct },
    action: string,
    context: Context,
    resource = table,
  ): Promise<Decision> {
    // The rehearsal's simulation (scripts/rehearsal/policy-check.ts), on the synthesized policies.
    const verdict = await simulate(
      {
        identityPolicies: async () => concretePoliciesOfRole(dev, fn.role),
        resourcePolicy: async () => undefined,
      },
      `arn:aws:sts::${DEPLOYED.account}:assumed-role/function-role/session`,
      `arn:aws:iam::${DEPLOYED.account}:role/function-role`,
      { action, resource, context },
    );
    if (verdict.simulationError !== undefined) throw new Error(verdict.simulationError);
    // A context key the simulator dropped as not applying would prove nothing.
    expect(verdict.ignoredKeys, action).toEqual([]);
    return verdict.decision;
  }

  const functions = () => {
    const { poller, decommission } = dev.stateless;
    return {
      poll: poller.pollFunction,
      api: decommission.apiFunction,
      executor: decommission.executorFunction,
      reconciler: decommission.reconcilerFunction,
      deadLetters: decommission.deadLetterFunction,
    };
  };

  describe("the poll", () => {
    it("cannot write a decommission request, a guard, a pointer or an idempotency key", async () => {
      const { poll } = functions();
      for (const context of [DCR, GUARD, POINTER, IDEMPOTENCY]) {
        for (const action of [...WRITES, "dynamodb:GetItem", "dynamodb:Query"]) {
          expect(await decide(poll, action, context), `${action} ${JSON.stringify(context)}`).toBe(
            "ImplicitlyDenied",
          );
        }
      }
    });

    it("can do to its devices, its lease and checkpoint, its ledger and its switch what its code does, and no more", async () => {
      const { poll } = functions();
      // partition: [allowed, denied]
      const expected: Record<string, [string[], string[]]> = {
        EVSE: [
          ["GetItem", "Query", "PutItem"],
          ["UpdateItem", "DeleteItem"],
        ],
        POLL: [["UpdateItem"], ["GetItem", "PutItem", "DeleteItem"]],
        LEDGER: [
          ["UpdateItem", "Query"],
          ["PutItem", "DeleteItem"],
        ],
        // Reads the poll switch (CONTROL / POLL_PAUSE); only operators flip it.
        CONTROL: [["GetItem"], ["PutItem", "UpdateItem", "DeleteItem", "Query"]],
      };
      for (const [partition, [allowed, denied]] of Object.entries(expected)) {
        const context = { "dynamodb:LeadingKeys": [partition] };
        for (const action of allowed) {
          expect(await decide(poll, `dynamodb:${action}`, context), `${action} ${partition}`).toBe(
            "Allowed",
          );
        }
        for (const action of denied) {
          expect(await decide(poll, `dynamodb:${action}`, context), `${action} ${partition}`).toBe(
            "ImplicitlyDenied",
          );
        }
      }
    });

    it("cannot delete even its own items, nor Scan the table or query its index", async () => {
      const { poll } = functions();
      expect(await decide(poll, "dynamodb:DeleteItem", DEVICE)).toBe("ImplicitlyDenied");
      expect(await decide(poll, "dynamodb:Scan", {})).toBe("ImplicitlyDenied");
      expect(
        await decide(
          poll,
          "dynamodb:Query",
          { "dynamodb:LeadingKeys": ["DCR_STATUS#APPROVED"] },
          index,
        ),
      ).toBe("ImplicitlyDenied");
    });

    it("cannot touch two partitions at once when one is not its own", async () => {
      const { poll } = functions();
      expect(
        await decide(poll, "dynamodb:BatchGetItem", { "dynamodb:LeadingKeys": ["EVSE", "DCR"] }),
      ).toBe("ImplicitlyDenied");
    });
  });

  describe("fleet health: history, rollups, the snapshot and the offline index", () => {
    it("only the poll writes them, each with the one write its code makes, and it reads none", async () => {
      const { poll } = functions();
      // partition: [allowed, denied]
      const expected: Array<[Context, string[], string[]]> = [
        [HISTORY, ["PutItem"], ["UpdateItem", "DeleteItem", "GetItem", "Query"]],
        [ROLLUP, ["UpdateItem"], ["PutItem", "DeleteItem", "GetItem", "Query", "BatchGetItem"]],
        [SNAPSHOT, ["PutItem"], ["UpdateItem", "DeleteItem", "GetItem"]],
      ];
      for (const [context, allowed, denied] of expected) {
        for (const action of allowed) {
          expect(await decide(poll, `dynamodb:${action}`, context), action).toBe("Allowed");
        }
        for (const action of denied) {
          expect(await decide(poll, `dynamodb:${action}`, context), action).toBe(
            "ImplicitlyDenied",
          );
        }
      }
      const offline = { "dynamodb:LeadingKeys": ["OFFLINE"] };
      expect(await decide(poll, "dynamodb:Query", offline, `${table}/index/gsi2`)).toBe(
        "ImplicitlyDenied",
      );
    });

    it("the API reads them (history pages, rollups by month or device, the snapshot, the offline index) and writes none", async () => {
      const { api } = functions();
      expect(await decide(api, "dynamodb:Query", HISTORY)).toBe("Allowed");
      expect(await decide(api, "dynamodb:Query", ROLLUP)).toBe("Allowed");
      expect(await decide(api, "dynamodb:BatchGetItem", ROLLUP)).toBe("Allowed");
      expect(
        await decide(api, "dynamodb:BatchGetItem", {
          "dynamodb:LeadingKeys": ["AVAIL#2026-02", "AVAIL#2026-03"],
        }),
      ).toBe("Allowed");
      expect(await decide(api, "dynamodb:GetItem", SNAPSHOT)).toBe("Allowed");
      expect(
        await decide(
          api,
          "dynamodb:Query",
          { "dynamodb:LeadingKeys": ["OFFLINE"] },
          `${table}/index/gsi2`,
        ),
      ).toBe("Allowed");
      for (const context of FLEET_HEALTH) {
        for (const action of WRITES) {
          expect(await decide(api, action, context), `${action} ${JSON.stringify(context)}`).toBe(
            "ImplicitlyDenied",
          );
        }
      }
      // A batch that reaches beyond the rollups is refused as a whole.
      expect(
        await decide(api, "dynamodb:BatchGetItem", {
          "dynamodb:LeadingKeys": ["AVAIL#2026-03", "POLL"],
        }),
      ).toBe("ImplicitlyDenied");
    });

    it("the executor, the reconciler and the dead-letter function touch none of them", async () => {
      const { executor, reconciler, deadLetters } = functions();
      for (const fn of [executor, reconciler, deadLetters]) {
        for (const context of FLEET_HEALTH) {
          for (const action of [...WRITES, "dynamodb:GetItem", "dynamodb:Query"]) {
            expect(await decide(fn, action, context), `${action} ${JSON.stringify(context)}`).toBe(
              "ImplicitlyDenied",
            );
          }
        }
        expect(
          await decide(
            fn,
            "dynamodb:Query",
            { "dynamodb:LeadingKeys": ["OFFLINE"] },
            `${table}/index/gsi2`,
          ),
        ).toBe("ImplicitlyDenied");
      }
    });
  });

  it("denies every function a request that carries no partition key", async () => {
    for (const [name, fn] of Object.entries(functions())) {
      for (const action of ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]) {
        expect(await decide(fn, action, {}), `${name} ${action}`).toBe("ImplicitlyDenied");
      }
      expect(await decide(fn, "dynamodb:Scan", {}), `${name} Scan`).toBe("ImplicitlyDenied");
    }
  });

  describe("the executor", () => {
    const completion = (attributes: readonly string[], returnValues?: string): Context => ({
      ...DEVICE,
      "dynamodb:Attributes": [...attributes],
      ...(returnValues === undefined ? {} : { "dynamodb:ReturnValues": returnValues }),
    });

    it("can mark a device decommissioned: exactly the completion attributes, returning nothing", async () => {
      const { executor } = functions();
      const attributes = DEVICE_COMPLETION.attributes;
      expect(await decide(executor, "dynamodb:UpdateItem", completion(attributes, "NONE"))).toBe(
        "Allowed",
      );
      expect(await decide(executor, "dynamodb:UpdateItem", completion(attributes))).toBe("Allowed");
    });

    it("cannot change another device attribute, nor have the device returned", async () => {
      const { executor } = functions();
      const attributes = DEVICE_COMPLETION.attributes;
      expect(
        await decide(executor, "dynamodb:UpdateItem", completion([...attributes, "cpid"], "NONE")),
      ).toBe("ImplicitlyDenied");
      for (const returnValues of ["ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"]) {
        expect(
          await decide(executor, "dynamodb:UpdateItem", completion(attributes, returnValues)),
          returnValues,
        ).toBe("ImplicitlyDenied");
      }
    });

    it("cannot create, replace, read or delete a device", async () => {
      const { executor } = functions();
      for (const action of [
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
      ]) {
        expect(await decide(executor, action, DEVICE), action).toBe("ImplicitlyDenied");
      }
    });

    it("cannot read the write secret (nor any) in dev, whose execution is off; the poll can read its own", async () => {
      const { executor, poll } = functions();
      const secret = (construct: IConstruct) =>
        String(concreteValue(dev, { Ref: logicalId(construct) }));
      const [write, read] = [secret(dev.stateful.writeSecret), secret(dev.stateful.readSecret)];
      expect(write).toMatch(/^arn:aws:secretsmanager:/);
      for (const arn of [write, read]) {
        expect(await decide(executor, "secretsmanager:GetSecretValue", {}, arn)).toBe(
          "ImplicitlyDenied",
        );
      }
      expect(await decide(poll, "secretsmanager:GetSecretValue", {}, read)).toBe("Allowed");
    });

    it("can read and move a request, release a guard and read the pause switch, and no more", async () => {
      const { executor } = functions();
      expect(await decide(executor, "dynamodb:GetItem", DCR)).toBe("Allowed");
      expect(await decide(executor, "dynamodb:UpdateItem", DCR)).toBe("Allowed");
      expect(await decide(executor, "dynamodb:DeleteItem", GUARD)).toBe("Allowed");
      expect(await decide(executor, "dynamodb:GetItem", PAUSE_SWITCH)).toBe("Allowed");
      expect(await decide(executor, "dynamodb:PutItem", DCR)).toBe("ImplicitlyDenied");
      expect(await decide(executor, "dynamodb:DeleteItem", DCR)).toBe("ImplicitlyDenied");
      expect(await decide(executor, "dynamodb:UpdateItem", GUARD)).toBe("ImplicitlyDenied");
      expect(await decide(executor, "dynamodb:PutItem", PAUSE_SWITCH)).toBe("ImplicitlyDenied");
      expect(await decide(executor, "dynamodb:PutItem", IDEMPOTENCY)).toBe("ImplicitlyDenied");
    });
  });

  describe("the API", () => {
    it("can create and move requests, add pointers, take and free guards, keep idempotency keys, never delete a request", async () => {
      const { api } = functions();
      const allowed: Array<[string, Context]> = [
        ["PutItem", DCR],
        ["UpdateItem", DCR],
        ["GetItem", DCR],
        ["BatchGetItem", DCR],
        ["Query", DCR],
        ["PutItem", POINTER],
        ["Query", POINTER],
        ["PutItem", GUARD],
        ["GetItem", GUARD],
        ["DeleteItem", GUARD],
        ["PutItem", IDEMPOTENCY],
        ["UpdateItem", IDEMPOTENCY],
        ["DeleteItem", IDEMPOTENCY],
      ];
      for (const [action, context] of allowed) {
        expect(
          await decide(api, `dynamodb:${action}`, context),
          `${action} ${JSON.stringify(context)}`,
        ).toBe("Allowed");
      }
      // The audit trail stays: no request or pointer is ever deleted.
      expect(await decide(api, "dynamodb:DeleteItem", DCR)).toBe("ImplicitlyDenied");
      expect(await decide(api, "dynamodb:DeleteItem", POINTER)).toBe("ImplicitlyDenied");
      expect(
        await decide(
          api,
          "dynamodb:Query",
          { "dynamodb:LeadingKeys": ["DCR_STATUS#PENDING_APPROVAL"] },
          index,
        ),
      ).toBe("Allowed");
    });

    it("can read devices but not write them, nor touch the poll's items or the pause switch", async () => {
      const { api } = functions();
      expect(await decide(api, "dynamodb:GetItem", DEVICE)).toBe("Allowed");
      expect(await decide(api, "dynamodb:Query", DEVICE)).toBe("Allowed");
      for (const action of WRITES) {
        expect(await decide(api, action, DEVICE), action).toBe("ImplicitlyDenied");
      }
      for (const partition of ["POLL", "LEDGER", "CONTROL"]) {
        const context = { "dynamodb:LeadingKeys": [partition] };
        expect(await decide(api, "dynamodb:UpdateItem", context), partition).toBe(
          "ImplicitlyDenied",
        );
      }
    });
  });

  describe("the reconciler and the dead-letter function", () => {
    it("cannot write device items, nor idempotency keys", async () => {
      const { reconciler, deadLetters } = functions();
      for (const fn of [reconciler, deadLetters]) {
        for (const action of WRITES) {
          expect(await decide(fn, action, DEVICE), action).toBe("ImplicitlyDenied");
          expect(await decide(fn, action, IDEMPOTENCY), action).toBe("ImplicitlyDenied");
        }
      }
    });

    it("can move requests and release guards; only the reconciler lists by status", async () => {
      const { reconciler, deadLetters } = functions();
      for (const fn of [reconciler, deadLetters]) {
        expect(await decide(fn, "dynamodb:GetItem", DCR)).toBe("Allowed");
        expect(await decide(fn, "dynamodb:UpdateItem", DCR)).toBe("Allowed");
        expect(await decide(fn, "dynamodb:DeleteItem", GUARD)).toBe("Allowed");
        expect(await decide(fn, "dynamodb:GetItem", PAUSE_SWITCH)).toBe("Allowed");
        // Neither creates nor erases a request, nor takes a guard.
        expect(await decide(fn, "dynamodb:PutItem", DCR)).toBe("ImplicitlyDenied");
        expect(await decide(fn, "dynamodb:DeleteItem", DCR)).toBe("ImplicitlyDenied");
        expect(await decide(fn, "dynamodb:PutItem", GUARD)).toBe("ImplicitlyDenied");
        expect(await decide(fn, "dynamodb:UpdateItem", GUARD)).toBe("ImplicitlyDenied");
      }
      const byStatus = { "dynamodb:LeadingKeys": ["DCR_STATUS#APPROVED"] };
      expect(await decide(reconciler, "dynamodb:Query", byStatus, index)).toBe("Allowed");
      expect(await decide(deadLetters, "dynamodb:Query", byStatus, index)).toBe("ImplicitlyDenied");
    });
  });
});
