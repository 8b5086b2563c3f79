import type { APIGatewayProxyEvent } from "aws-lambda";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/api/routes.js";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { ARNS, evseId } from "../decommission/fixtures.js";
import { useDynalite } from "../support/dynamo.js";
import { startApi } from "./api-harness.js";

const dynamo = useDynalite();

/** Mostly a plausible choice, sometimes anything at all. */
function mostly<T>(plausible: fc.Arbitrary<T>, anything: fc.Arbitrary<T>) {
  return fc.oneof({ arbitrary: plausible, weight: 4 }, { arbitrary: anything, weight: 1 });
}

/** Usually nothing, now and then a value. */
function rarely<T>(value: fc.Arbitrary<T>) {
  return fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: value, weight: 1 });
}

const junk = fc.oneof(
  fc.constantFrom("", " ", "x".repeat(600), true, false, null, 0, -1, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 50 }),
);

const requestIds: string[] = [];
const id = mostly(
  fc.constantFrom("known", "dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
  fc.oneof(fc.constantFrom("", "..", "%00", "dcr_", evseId(1)), fc.string({ maxLength: 40 })),
);
const DEVICES = 40;
const evse = mostly(
  fc.oneof(fc.integer({ min: 0, max: DEVICES - 1 }).map(evseId), fc.constant(evseId(99))),
  fc.string({ maxLength: 40 }),
);

/** Every route, the state-changing ones more often. */
const route = fc.oneof(
  ...ROUTES.map((candidate) => ({
    arbitrary: fc.constant(candidate),
    weight: candidate.name === "createRequest" ? 6 : candidate.method === "POST" ? 3 : 1,
  })),
);

/** [method, path]: mostly the API's own routes (ids filled in), sometimes anything. */
const target = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.tuple(route, id, evse).map(([route, requestId, evseValue]) => {
      const chosen = requestId === "known" ? (requestIds.at(-1) ?? requestId) : requestId;
      const path = route.path.startsWith("/evses/")
        ? route.path.replace("{id}", evseValue)
        : route.path.replace("{id}", chosen);
      return [route.method, path] as const;
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.oneof(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "get"),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(
        fc.constantFrom(
          "/",
          "",
          "/decommission-requests/",
          "/decommission-requests/x/nope",
          "/evses/",
        ),
        fc.string({ maxLength: 80 }),
      ),
    ),
  },
);

const extra = rarely(
  fc.tuple(
    fc.oneof(fc.constantFrom("__proto__", "constructor", "status"), fc.string({ maxLength: 12 })),
    junk,
  ),
);
const withExtra = (object: Record<string, unknown>, more: [string, unknown] | null) =>
  more === null ? object : { ...object, [more[0]]: more[1] };
/** Drops a key now and then: a missing field is one of the errors to probe. */
const sometimesWithout = (object: Record<string, unknown>) =>
  rarely(fc.constantFrom(...Object.keys(object))).map((drop) =>
    Object.fromEntries(Object.entries(object).filter(([key]) => key !== drop)),
  );
const createBody = fc
  .record({
    evseId: mostly(evse, junk),
    reason: mostly(fc.constantFrom("site closed", "moving"), junk),
  })
  .chain(sometimesWithout)
  .chain((object) => extra.map((more) => withExtra(object, more)));
const decisionBody = fc
  .record(
    {
      comment: mostly(fc.constantFrom("ok", "checked"), junk),
      force: mostly(fc.boolean(), junk),
      reason: mostly(fc.constantFrom("not now"), junk),
    },
    { requiredKeys: [] },
  )
  .chain((object) => extra.map((more) => withExtra(object, more)));

const bodyFor = (method: string, path: string) => {
  const plausible =
    method === "POST" && path === "/decommission-requests"
      ? createBody
      : method === "POST"
        ? decisionBody
        : fc.constant(null);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: plausible.map((object) => (object === null ? null : JSON.stringify(object))),
    },
    { weight: 1, arbitrary: body },
  );
};
const body = fc.oneof(
  { weight: 4, arbitrary: createBody.map((object) => JSON.stringify(object)) },
  { weight: 3, arbitrary: decisionBody.map((object) => JSON.stringify(object)) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((json) => JSON.stringify(json)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("[".repeat(5000), '{"a":'.repeat(3000), "x".repeat(17_000)),
  },
);

const headerName = fc.oneof(
  fc.constantFrom("Content-Type", "content-type", "Idempotency-Key", "X-Principal", "__proto__"),
  fc.string({ maxLength: 20 }),
);
const headerValue = fc.oneof(
  fc.constantFrom(
    "application/json",
    "application/json; charset=latin1",
    "text/plain",
    "k-1",
    ARNS.approverBob,
  ),
  fc.string({ maxLength: 60 }),
);
const headers = mostly(
  fc
    .tuple(
      fc.oneof(fc.uuid(), fc.constantFrom("k-1", "k-2", "")),
      fc.array(fc.tuple(headerName, headerValue), { maxLength: 1 }),
    )
    .map(
      ([key, more]): Array<[string, string]> => [
        ["Content-Type", "application/json"],
        ...(key === "" ? [] : [["Idempotency-Key", key] as [string, string]]),
        ...more,
      ],
    ),
  fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
);

const query = mostly(
  fc.constant([] as Array<[string, string]>),
  fc.array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("status", "evseId", "limit", "cursor", "lifecycle", "__proto__"),
        fc.string({ maxLength: 10 }),
      ),
      fc.oneof(
        fc.constantFrom("PENDING_APPROVAL", "APPROVED", "5", "0", "101", "all", evseId(1)),
        fc.string({ maxLength: 30 }),
      ),
    ),
    { maxLength: 4 },
  ),
);

const caller = mostly(
  fc.constantFrom<string | null>(
    ARNS.requester,
    ARNS.approverBob,
    ARNS.approverCarol,
    ARNS.requesterOtherSession,
  ),
  fc.oneof(
    fc.constantFrom<string | null>(
      ARNS.approverRoleIam,
      "arn:aws:iam::111111111111:root",
      null,
      "",
    ),
    fc.string({ maxLength: 80 }),
  ),
);

const call = target.chain(([method, path]) =>
  bodyFor(method, path).map((chosen) => [method, path, chosen] as const),
);

/** Event shapes API Gateway could send, and a few it should not. */
type Mangle = (event: APIGatewayProxyEvent) => APIGatewayProxyEvent;
const mangle = mostly<Mangle>(
  fc.constant((event) => event),
  fc.constantFrom<Mangle>(
    (event) => ({ ...event, headers: {}, multiValueHeaders: {} }),
    (event) => ({ ...event, isBase64Encoded: true }),
    (event) => ({ ...event, queryStringParameters: null, multiValueQueryStringParameters: null }),
  ),
);

describe("the API under generated input", () => {
  it("answers every call with a 2xx or a 4xx problem document, never a 5xx", async () => {
    const { api } = await startApi(dynamo, DEVICES);
    const statuses = new Map<number, number>();
    const property = fc.asyncProperty(
      call,
      headers,
      query,
      caller,
      mangle,
      async ([method, path, b], h, q, arn, change) => {
        const event = change(
          proxyEvent({ method, path, headers: h, query: q, body: b, callerArn: arn }),
        );
        const result = await api(event);
        statuses.set(result.statusCode, (statuses.get(result.statusCode) ?? 0) + 1);
        expect(result.statusCode).toBeGreaterThanOrEqual(200);
        expect(result.statusCode).toBeLessThan(500);
        if (result.statusCode === 201) requestIds.push(JSON.parse(result.body).id);
        if (result.statusCode >= 300) {
          expect(result.headers?.["Content-Type"]).toBe("application/problem+json");
          const problem = JSON.parse(result.body) as Record<string, unknown>;
          expect(problem.status).toBe(result.statusCode);
          for (const member of ["type", "title", "detail"])
            expect(typeof problem[member]).toBe("string");
          expect(result.body).not.toMatch(/at .*\.ts:\d+|Exception|dynamodb/i);
        }
      },
    );
    // Biased runs favour edge cases (empty, tiny, boundary values); unbiased runs follow the
    // weights above and so reach deeper into the use cases.
    await fc.assert(property, { numRuns: 800, seed: 20260302 });
    await fc.assert(property, { numRuns: 800, seed: 20260303, plugins: [fc.unbiased()] });
    const total = [...statuses.values()].reduce((sum, count) => sum + count, 0);
    expect(total).toBeGreaterThanOrEqual(1000);
    // The generators reach the use cases, not only the router: successes and refusals alike.
    for (const status of [200, 201, 202, 400, 403, 404, 409, 415, 422]) {
      expect(statuses.get(status), `answers with ${status}`).toBeGreaterThan(0);
    }
  });
});
