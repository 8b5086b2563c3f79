import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyResult } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { type ProxyEventInput, proxyEvent } from "../../local/api-gateway-event.js";
import { ARNS, evseId } from "../decommission/fixtures.js";
import { useDynalite } from "../support/dynamo.js";
import { startApi } from "./api-harness.js";

const dynamo = useDynalite();

const JSON_HEADER: [string, string] = ["Content-Type", "application/json"];
const create = (
  body: string | Buffer | null,
  headers: Array<[string, string]> = [JSON_HEADER, ["Idempotency-Key", "k1"]],
): ProxyEventInput => ({
  method: "POST",
  path: "/decommission-requests",
  callerArn: ARNS.requester,
  headers,
  body,
});

/** A decision on a request that need not exist: the body is refused before any lookup. */
const decision = (action: string, body: unknown): ProxyEventInput => ({
  method: "POST",
  path: `/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ/${action}`,
  callerArn: action === "cancel" ? ARNS.requester : ARNS.approverBob,
  headers: [JSON_HEADER],
  body: JSON.stringify(body),
});

function problem(result: APIGatewayProxyResult) {
  expect(result.headers?.["Content-Type"]).toBe("application/problem+json");
  const body = JSON.parse(result.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status: result.statusCode });
  expect(typeof body.type).toBe("string");
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  return body;
}

describe("bad input gets a clear answer and changes nothing", () => {
  const valid = JSON.stringify({ evseId: evseId(1), reason: "site closed" });
  const cases: Array<[string, ProxyEventInput, number, RegExp]> = [
    ["malformed JSON", create('{"evseId": '), 400, /not valid JSON/],
    ["a JSON array", create("[]"), 400, /JSON object/],
    [
      "a wrong content type",
      create(valid, [
        ["Content-Type", "text/plain"],
        ["Idempotency-Key", "k"],
      ]),
      415,
      /application\/json/,
    ],
    ["no content type", create(valid, [["Idempotency-Key", "k"]]), 415, /application\/json/],
    [
      "a body over 16 KB",
      create(JSON.stringify({ evseId: evseId(1), reason: "x".repeat(17_000) })),
      413,
      /16384/,
    ],
    ["a base64 body over 16 KB", create(Buffer.alloc(16_385, 0x20)), 413, /16385 bytes/],
    ["no body", create(null), 400, /body is required/],
    ["invalid UTF-8", create(Buffer.from([0x7b, 0xff, 0x7d])), 400, /UTF-8/],
    [
      "an unknown field",
      create(JSON.stringify({ evseId: evseId(1), reason: "r", color: "red" })),
      400,
      /color is not a known field \(this call takes evseId, reason, externalRef\)/,
    ],
    [
      "a comment on reject (a rejection takes reason)",
      decision("reject", { comment: "no" }),
      400,
      /^invalid body: comment is not a known field \(this call takes reason\)$/,
    ],
    [
      "a reason on approve (an approval takes comment)",
      decision("approve", { reason: "ok" }),
      400,
      /^invalid body: reason is not a known field \(this call takes comment, force\)$/,
    ],
    [
      "a comment on cancel (a cancellation takes reason)",
      decision("cancel", { comment: "oops" }),
      400,
      /^invalid body: comment is not a known field \(this call takes reason\)$/,
    ],
    [
      "a malformed evseId",
      create(JSON.stringify({ evseId: "evse123", reason: "r" })),
      400,
      /evseId must be evse followed by 26/,
    ],
    ["a missing evseId", create(JSON.stringify({ reason: "r" })), 400, /evseId is required/],
    [
      "an empty reason",
      create(JSON.stringify({ evseId: evseId(1), reason: "   " })),
      400,
      /reason must not be empty/,
    ],
    [
      "a 1,000-character reason",
      create(JSON.stringify({ evseId: evseId(1), reason: "r".repeat(1000) })),
      400,
      /at most 500/,
    ],
    [
      "a reason of the wrong type",
      create(JSON.stringify({ evseId: evseId(1), reason: 42 })),
      400,
      /reason must be a string/,
    ],
    ["no Idempotency-Key", create(valid, [JSON_HEADER]), 400, /Idempotency-Key header is required/],
    [
      "a malformed Idempotency-Key",
      create(valid, [JSON_HEADER, ["Idempotency-Key", "has space"]]),
      400,
      /Idempotency-Key/,
    ],
    [
      "an unknown route",
      { method: "GET", path: "/nothing-here", callerArn: ARNS.requester },
      404,
      /no resource/,
    ],
    [
      "a wrong method",
      { method: "DELETE", path: "/decommission-requests", callerArn: ARNS.requester },
      405,
      /allows POST, GET/,
    ],
    [
      "an unknown request id",
      {
        method: "GET",
        path: "/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ",
        callerArn: ARNS.requester,
      },
      404,
      /no decommission request/,
    ],
    [
      "an unknown EVSE",
      { method: "GET", path: `/evses/${evseId(99)}`, callerArn: ARNS.requester },
      404,
      /never been seen/,
    ],
    [
      "a bad status filter",
      {
        method: "GET",
        path: "/decommission-requests",
        callerArn: ARNS.requester,
        query: [["status", "DONE"]],
      },
      400,
      /status must be one of/,
    ],
    [
      "an unknown query parameter",
      {
        method: "GET",
        path: "/decommission-requests",
        callerArn: ARNS.requester,
        query: [["sort", "asc"]],
      },
      400,
      /sort is not a known field/,
    ],
    [
      "a repeated query parameter",
      {
        method: "GET",
        path: "/evses",
        callerArn: ARNS.requester,
        query: [
          ["limit", "1"],
          ["limit", "2"],
        ],
      },
      400,
      /must appear once/,
    ],
    [
      "a limit out of range",
      { method: "GET", path: "/evses", callerArn: ARNS.requester, query: [["limit", "1000"]] },
      400,
      /1 to 100/,
    ],
    [
      "a forged cursor",
      {
        method: "GET",
        path: "/decommission-requests",
        callerArn: ARNS.requester,
        query: [["cursor", "eyJ2IjoxfQ"]],
      },
      400,
      /cursor/,
    ],
    ["no caller identity", { method: "GET", path: "/evses", callerArn: null }, 401, /SigV4/],
    [
      "an unsupported caller",
      { method: "GET", path: "/evses", callerArn: "arn:aws:iam::111111111111:group/x" },
      403,
      /caller/,
    ],
    [
      "a reject without a reason",
      {
        method: "POST",
        path: "/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ/reject",
        callerArn: ARNS.approverBob,
        headers: [JSON_HEADER],
        body: "{}",
      },
      400,
      /reason is required/,
    ],
    [
      "approve with a non-boolean force",
      {
        method: "POST",
        path: "/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ/approve",
        callerArn: ARNS.approverBob,
        headers: [JSON_HEADER],
        body: '{"force":"yes"}',
      },
      400,
      /force must be true or false/,
    ],
  ];

  it.each(cases)("%s", async (_name, input, status, detail) => {
    const { api, tableName } = await startApi(dynamo);
    const before = await dynamo.documents.send(new ScanCommand({ TableName: tableName }));
    const result = await api(proxyEvent(input));
    expect(result.statusCode).toBe(status);
    expect(String(problem(result).detail)).toMatch(detail);
    const after = await dynamo.documents.send(new ScanCommand({ TableName: tableName }));
    expect(after.Items).toEqual(before.Items);
  });

  it("ignores X-Principal on the Lambda path: only the identity API Gateway verified counts", async () => {
    const { api } = await startApi(dynamo);
    const result = await api(
      proxyEvent({
        method: "GET",
        path: "/evses",
        callerArn: null,
        headers: [["X-Principal", ARNS.approverBob]],
      }),
    );
    expect(result.statusCode).toBe(401);
  });

  it("refuses an identity whose account or session disagrees with what API Gateway reports", async () => {
    const { api } = await startApi(dynamo);
    const event = proxyEvent({ method: "GET", path: "/evses", callerArn: ARNS.requester });
    event.requestContext.identity.accountId = "999999999999";
    expect((await api(event)).statusCode).toBe(403);
    const sessions = proxyEvent({ method: "GET", path: "/evses", callerArn: ARNS.requester });
    sessions.requestContext.identity.caller = "AROAEXAMPLE:mallory";
    expect((await api(sessions)).statusCode).toBe(403);
    sessions.requestContext.identity.caller = "AROAEXAMPLE:alice";
    expect((await api(sessions)).statusCode).toBe(200);
  });

  it("answers 409 naming the open request to a second request for the same EVSE", async () => {
    const { api } = await startApi(dynamo);
    const body = JSON.stringify({
      evseId: evseId(1),
      reason: "site closed",
      externalRef: "TICKET-1",
    });
    const first = await api(proxyEvent(create(body, [JSON_HEADER, ["Idempotency-Key", "a"]])));
    expect(first.statusCode).toBe(201);
    const firstId = JSON.parse(first.body).id;
    const second = await api(proxyEvent(create(body, [JSON_HEADER, ["Idempotency-Key", "b"]])));
    expect(second.statusCode).toBe(409);
    expect(problem(second)).toMatchObject({ openRequestId: firstId });
    expect(JSON.parse(first.body).externalRef).toBe("TICKET-1");
  });

  it("pages through requests with an opaque cursor and filters by status and EVSE", async () => {
    const { api, clock } = await startApi(dynamo, 5);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      const body = JSON.stringify({ evseId: evseId(i), reason: `r${i}` });
      expect(
        (await api(proxyEvent(create(body, [JSON_HEADER, ["Idempotency-Key", `k${i}`]]))))
          .statusCode,
      ).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: APIGatewayProxyResult = await api(
        proxyEvent({
          method: "GET",
          path: "/decommission-requests",
          callerArn: ARNS.approverBob,
          query: [
            ["limit", "2"],
            ["status", "PENDING_APPROVAL"],
            ...(cursor ? [["cursor", cursor] as [string, string]] : []),
          ],
        }),
      );
      expect(page.statusCode).toBe(200);
      const body = JSON.parse(page.body) as {
        items: Array<{ reason: string }>;
        nextCursor: string | null;
      };
      seen.push(...body.items.map((item) => item.reason));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(["r4", "r3", "r2", "r1", "r0"]);
    const byEvse = await api(
      proxyEvent({
        method: "GET",
        path: "/decommission-requests",
        callerArn: ARNS.approverBob,
        query: [["evseId", evseId(3)]],
      }),
    );
    expect(JSON.parse(byEvse.body).items.map((item: { reason: string }) => item.reason)).toEqual([
      "r3",
    ]);
  });

  it("shows a device's last-seen state and its open request", async () => {
    const { api } = await startApi(dynamo);
    const body = JSON.stringify({ evseId: evseId(2), reason: "moving" });
    const created = JSON.parse((await api(proxyEvent(create(body)))).body);
    const evse = await api(
      proxyEvent({ method: "GET", path: `/evses/${evseId(2)}`, callerArn: ARNS.approverBob }),
    );
    expect(JSON.parse(evse.body)).toMatchObject({
      evseId: evseId(2),
      cpid: "CP-2",
      isCharging: false,
      lifecycle: "active",
      openDecommissionRequestId: created.id,
    });
  });
});
