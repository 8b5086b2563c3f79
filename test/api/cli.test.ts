import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { AwsClient } from "aws4fetch";
import { afterEach, describe, expect, it } from "vitest";
import { buildCall, callApi } from "../../scripts/evse-ops-api.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A stand-in for API Gateway that records what it receives. */
async function recorder() {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    res.writeHead(202, { "Content-Type": "application/json" }).end('{"status":"APPROVED"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  close = () => new Promise((resolve) => server.close(() => resolve()));
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod` };
}

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

describe("the SigV4 CLI", () => {
  it("signs a call so that API Gateway's own verification (the same algorithm) accepts it", async () => {
    const { seen, url } = await recorder();
    const call = buildCall("approve", ["dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ"], {
      comment: "ok",
      force: true,
    });
    const answer = await callApi(url, call, { region: "eu-west-2", credentials });
    expect(answer.status).toBe(202);
    const request = seen[0];
    if (!request) throw new Error("nothing received");
    expect(request.url).toBe("/prod/decommission-requests/dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ/approve");
    expect(JSON.parse(request.body)).toEqual({ comment: "ok", force: true });
    const authorization = String(request.headers.authorization);
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-2\/execute-api\/aws4_request/,
    );

    // Re-sign what arrived, at the time it claims: the CLI must have sent exactly what it
    // signed (path, body, signed headers), or API Gateway would reject it.
    const amzDate = String(request.headers["x-amz-date"]);
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
    expect(signedHeaders).toEqual(expect.arrayContaining(["host", "x-amz-date"]));
    const headers = Object.fromEntries(
      signedHeaders
        .filter((name) => name !== "host")
        .map((name) => [name, String(request.headers[name])]),
    );
    const resigned = await new AwsClient({
      ...credentials,
      service: "execute-api",
      region: "eu-west-2",
    }).sign(`${new URL(url).origin}${request.url}`, {
      method: request.method,
      headers,
      body: request.body,
      aws: { datetime: amzDate },
    });
    expect(resigned.headers.get("authorization")).toBe(authorization);
  });

  it("builds each command's call, with a fresh Idempotency-Key per request unless given", () => {
    const first = buildCall("request", ["evse01JQBEYCCN0Z44RW00E6GZCE86"], {
      reason: "site closed",
      "external-ref": "T-1",
    });
    expect(first).toMatchObject({
      method: "POST",
      path: "/decommission-requests",
      body: { evseId: "evse01JQBEYCCN0Z44RW00E6GZCE86", reason: "site closed", externalRef: "T-1" },
    });
    const second = buildCall("request", ["evse01JQBEYCCN0Z44RW00E6GZCE86"], {
      reason: "site closed",
    });
    expect(first.headers?.["idempotency-key"]).not.toBe(second.headers?.["idempotency-key"]);
    expect(buildCall("request", ["e"], { reason: "r", "idempotency-key": "k" }).headers).toEqual({
      "idempotency-key": "k",
    });
    expect(buildCall("list", [], { status: "APPROVED", evse: "evseX" })).toMatchObject({
      query: { status: "APPROVED", evseId: "evseX" },
    });
    expect(() => buildCall("reject", ["dcr_x"], {})).toThrow(/--reason/);
    expect(() => buildCall("explode", [], {})).toThrow(/unknown command "explode": use request/);
  });

  it("sends X-Principal instead of a signature only when told to (the local sandbox)", async () => {
    const { seen, url } = await recorder();
    await callApi(url, buildCall("get", ["dcr_01JZZZZZZZZZZZZZZZZZZZZZZZ"], {}), {
      as: "arn:aws:sts::111111111111:assumed-role/approver/bob",
    });
    expect(seen[0]?.headers["x-principal"]).toBe(
      "arn:aws:sts::111111111111:assumed-role/approver/bob",
    );
    expect(seen[0]?.headers.authorization).toBeUndefined();
  });
});
