/**
 * The decommission promises under random interleavings: create, approve, reject, cancel,
 * expiry, execution, redelivery, dead-lettering and reconciliation, run concurrently with
 * fast-check's scheduler deciding the order of every store and ev.energy call, callers dying
 * between any two steps, forged request items, and ev.energy answering 204, 404, 403, 429, 5xx
 * or timing out (with or without having applied a DELETE). Then everything settles and the world
 * is checked:
 * - never a DELETE without a valid signed approval by another person, given before expiry;
 * - never DELETEs from two requests for one EVSE (one effective DELETE);
 * - every request ends in a state that matches what ev.energy did (COMPLETED exactly for the
 *   request whose DELETE took effect; forged requests FAILED).
 * 1,000 runs against the in-memory store with DynamoDB's conditional semantics, 50 against the
 * DynamoDB adapter over dynalite. Seeded: a failure prints the seed and path to replay it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DynamoDecommissionStore } from "../../functions/adapters/dynamodb/decommission-store.js";
import { DynamoDeviceStore } from "../../functions/adapters/dynamodb/device-store.js";
import { useDynalite } from "../support/dynamo.js";
import { MemoryDecommissionStore } from "../support/memory-decommission-store.js";
import { aDevice } from "./fixtures.js";
import {
  type Answer,
  APPROVERS,
  type Crash,
  cpidOf,
  EVSES,
  type Gate,
  memoryDevices,
  REQUESTERS,
  World,
  worldStore,
} from "./safety-world.js";

type Command =
  | { kind: "create"; evse: number; requester: number }
  | { kind: "approve"; request: number; approver: number; force: boolean }
  | { kind: "reject"; request: number; approver: number }
  | { kind: "cancel"; request: number; requester: number }
  | { kind: "deliver"; message: number }
  | { kind: "dead-letter"; message: number }
  | { kind: "reconcile" }
  | { kind: "forge"; evse: number; variant: "self-approved" | "copied-signature" | "unsigned" }
  | { kind: "pause"; on: boolean }
  /** Time passing while others are mid-way (never longer than a lease: a Lambda's timeout). */
  | { kind: "tick"; ms: number };

interface Round {
  advanceMs: number;
  commands: Array<{ command: Command; crash: Crash }>;
}

// Counted from the newest request or message: races are between the latest ones.
const index = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.nat({ max: 7 }) },
);
// Mostly real approvers; alice is also a requester (self-approval), the last is none.
const approver = fc.oneof(
  { weight: 3, arbitrary: fc.constant(1) },
  { weight: 2, arbitrary: fc.constant(2) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(3) },
);
// Mostly the same EVSE, so requests collide.
const evse = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(1) },
);
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("create" as const),
      evse: fc.nat({ max: 1 }),
      requester: fc.nat({ max: 1 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("approve" as const),
      request: index,
      approver,
      force: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reject" as const),
      request: index,
      approver: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("cancel" as const),
      request: index,
      requester: fc.nat({ max: 1 }),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("deliver" as const), message: index }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("dead-letter" as const), message: index }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reconcile" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("forge" as const),
      evse,
      variant: fc.constantFrom(
        "self-approved" as const,
        "copied-signature" as const,
        "unsigned" as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pause" as const), on: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("tick" as const),
      ms: fc.constantFrom(10_000, 30_000),
    }),
  },
);
const crash: fc.Arbitrary<Crash> = fc.option(
  fc.record({ at: fc.integer({ min: 1, max: 8 }), after: fc.boolean() }),
  { freq: 9, nil: undefined },
);
const round: fc.Arbitrary<Round> = fc.record({
  // Within a lease, past it, past the reconciler's staleness, to just before and past a
  // request's expiry (a tick then crosses it mid-round).
  advanceMs: fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.constantFrom(30_000, 61_000) },
    { weight: 1, arbitrary: fc.constantFrom(16 * 60_000, 59 * 60_000 + 45_000, 61 * 60_000) },
  ),
  commands: fc.array(fc.record({ command, crash }), { minLength: 1, maxLength: 4 }),
});
const answers: fc.Arbitrary<Answer[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant<Answer>("ok") },
    {
      weight: 3,
      arbitrary: fc.constantFrom<Answer>(
        "429",
        "403",
        "503",
        "503-applied",
        "timeout",
        "timeout-applied",
      ),
    },
  ),
  { maxLength: 14 },
);
// Every run starts with a request, so approvals and executions have something to act on.
const opening: fc.Arbitrary<Round> = fc.record({
  advanceMs: fc.constant(0),
  commands: fc.tuple(
    fc.record({
      command: fc.record({
        kind: fc.constant("create" as const),
        evse,
        requester: fc.nat({ max: 1 }),
      }),
      crash,
    }),
  ),
});
const scenario = fc.record({
  rounds: fc
    .tuple(opening, fc.array(round, { minLength: 1, maxLength: 8 }))
    .map(([first, rest]) => [first, ...rest]),
  answers,
});

async function run(world: World, gate: Gate, entry: { command: Command; crash: Crash }) {
  const { command: c, crash: dies } = entry;
  const ids = await world.requestIds();
  const pick = (n: number) => ids[ids.length - 1 - (n % Math.max(1, ids.length))];
  const newest = (n: number) =>
    world.live[world.live.length - 1 - (n % Math.max(1, world.live.length))];
  switch (c.kind) {
    case "create":
      return world.create(gate, dies, EVSES[c.evse] ?? "", REQUESTERS[c.requester] ?? "");
    case "approve": {
      const id = pick(c.request);
      return id && world.approve(gate, dies, id, APPROVERS[c.approver] ?? "", c.force);
    }
    case "reject": {
      const id = pick(c.request);
      return id && world.reject(gate, dies, id, APPROVERS[c.approver] ?? "");
    }
    case "cancel": {
      const id = pick(c.request);
      return id && world.cancel(gate, dies, id, REQUESTERS[c.requester] ?? "");
    }
    case "deliver": {
      const message = newest(c.message);
      return message && world.deliver(gate, dies, message);
    }
    case "dead-letter": {
      const message = newest(c.message);
      return message && world.deadLetter(gate, dies, message);
    }
    case "reconcile":
      return world.reconcile(gate, dies);
    case "forge":
      return world.forge(EVSES[c.evse] ?? "", c.variant);
    case "pause":
      world.paused = c.on;
      return undefined;
    case "tick":
      await gate("tick");
      world.clock.advance(c.ms);
      return undefined;
  }
}

async function check(
  world: World,
  s: fc.Scheduler,
  { rounds, answers: script }: { rounds: Round[]; answers: Answer[] },
) {
  world.answers = [...script];
  const gate: Gate = (label) => s.schedule(Promise.resolve(), label);
  for (const { advanceMs, commands } of rounds) {
    world.clock.advance(advanceMs);
    await s.waitFor(Promise.allSettled(commands.map((entry) => run(world, gate, entry))));
    await world.checkInvariants();
  }
  await world.settle();
  expect(await world.finalViolations()).toEqual([]);
}

describe("decommission safety under random interleavings", () => {
  it("holds over 1,000 runs against the in-memory store", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, input) => {
        const world = new World(worldStore(new MemoryDecommissionStore()), memoryDevices());
        await check(world, s, input);
      }),
      { numRuns: 1_000, seed: 20_261_129 },
    );
  }, 60_000);

  const dynamo = useDynalite();
  it("holds over 50 runs against the DynamoDB adapter over dynalite", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, input) => {
        const tableName = await dynamo.freshTable();
        const devices = new DynamoDeviceStore(dynamo.documents, tableName);
        for (const id of EVSES)
          await devices.put(aDevice({ evseId: id, cpid: cpidOf(id) }), undefined);
        const world = new World(
          worldStore(new DynamoDecommissionStore(dynamo.documents, tableName)),
          devices,
        );
        await check(world, s, input);
      }),
      { numRuns: 50, seed: 20_261_129 },
    );
  }, 120_000);
});
