import { describe, expect, it } from "vitest";
import { DynamoIdempotencyStore } from "../../functions/adapters/dynamodb/idempotency-store.js";
import {
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
} from "../../functions/core/decommission/errors.js";
import { fingerprintOf, runIdempotently } from "../../functions/core/decommission/idempotency.js";
import { ManualClock } from "../../local/manual-clock.js";
import { useDynalite } from "../support/dynamo.js";

const dynamo = useDynalite();
const HOUR = 3_600_000;

async function setup() {
  const store = new DynamoIdempotencyStore(dynamo.documents, await dynamo.freshTable());
  const clock = new ManualClock();
  let tokens = 0;
  const deps = { store, clock, newToken: () => `owner-${++tokens}` };
  const settings = { retentionMs: 24 * HOUR, inFlightMs: 30_000 };
  const call = (body: unknown) => ({
    scope: "alice",
    key: "k",
    fingerprint: fingerprintOf("POST", "/decommission-requests", body),
  });
  const response = (n: number) => ({ statusCode: 201, body: `{"n":${n}}`, headers: {} });
  return { deps, settings, call, response, clock };
}

describe("idempotent creation", () => {
  it("answers 409 while the first call runs, then replays its answer", async () => {
    const { deps, settings, call, response } = await setup();
    let finish: () => void = () => undefined;
    const first = runIdempotently(deps, settings, call({ a: 1 }), async () => {
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      return response(1);
    });
    await expect(
      runIdempotently(deps, settings, call({ a: 1 }), async () => response(2)),
    ).rejects.toBeInstanceOf(IdempotencyKeyInFlight);
    finish();
    expect(await first).toMatchObject({ body: '{"n":1}', replayed: false });
    expect(
      await runIdempotently(deps, settings, call({ a: 1 }), async () => response(3)),
    ).toMatchObject({
      body: '{"n":1}',
      replayed: true,
    });
    await expect(
      runIdempotently(deps, settings, call({ a: 2 }), async () => response(4)),
    ).rejects.toBeInstanceOf(IdempotencyKeyReused);
  });

  it("treats bodies that differ only in key order as the same body", () => {
    expect(fingerprintOf("POST", "/x", { a: 1, b: [1, { c: 2, d: 3 }] })).toBe(
      fingerprintOf("POST", "/x", { b: [1, { d: 3, c: 2 }], a: 1 }),
    );
    expect(fingerprintOf("POST", "/x", { a: 1 })).not.toBe(fingerprintOf("POST", "/x", { a: "1" }));
  });

  it("keeps nothing of a refused call, and forgets a key only after the retention period", async () => {
    const { deps, settings, call, response, clock } = await setup();
    await expect(
      runIdempotently(deps, settings, call({ a: 1 }), async () => {
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    expect(
      await runIdempotently(deps, settings, call({ a: 1 }), async () => response(1)),
    ).toMatchObject({
      replayed: false,
    });
    clock.advance(24 * HOUR - 1000);
    expect(
      (await runIdempotently(deps, settings, call({ a: 1 }), async () => response(2))).replayed,
    ).toBe(true);
    clock.advance(2000);
    expect(
      (await runIdempotently(deps, settings, call({ a: 1 }), async () => response(3))).body,
    ).toBe('{"n":3}');
  });

  it("lets a retry take over a key whose first call died", async () => {
    const { deps, settings, call, response, clock } = await setup();
    await deps.store.begin({
      ...call({ a: 1 }),
      owner: "dead",
      now: clock.now(),
      expiresAt: clock.now() + 24 * HOUR,
      lockUntil: clock.now() + 30_000,
    });
    await expect(
      runIdempotently(deps, settings, call({ a: 1 }), async () => response(1)),
    ).rejects.toBeInstanceOf(IdempotencyKeyInFlight);
    clock.advance(31_000);
    expect(
      (await runIdempotently(deps, settings, call({ a: 1 }), async () => response(2))).body,
    ).toBe('{"n":2}');
  });
});
