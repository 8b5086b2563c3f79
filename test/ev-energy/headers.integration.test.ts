/**
 * What goes on the wire, seen by a tiny HTTP server that records every request's headers.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_USER_AGENT, EvEnergyClient } from "../../functions/adapters/ev-energy/client.js";
import { AccessTokenProvider } from "../../functions/adapters/ev-energy/credentials.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { CapturingLogger, evseId, FakeSecretSource } from "./helpers.js";

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe("request headers", () => {
  const seen: Seen[] = [];
  let server: Server;
  let origin = "";

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        const path = request.url ?? "";
        seen.push({ method: request.method ?? "", path, headers: request.headers, body });
        response.setHeader("content-type", "application/json");
        if (path.startsWith("/o/token/")) {
          response.end(JSON.stringify({ access_token: "wire-token", expires_in: 36_000 }));
        } else if (request.method === "DELETE") {
          response.statusCode = 204;
          response.end();
        } else if (path.startsWith("/v2/evses?")) {
          response.end("[]");
        } else {
          response.end(JSON.stringify({ id: evseId(1), cpid: "CP1", lock_mode: null }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("every API request carries Authorization, EvEnergy-Version 2, User-Agent and Accept", async () => {
    const clock = new ManualClock();
    const tokens = new AccessTokenProvider({
      secrets: new FakeSecretSource('{"client_id":"wire-id","client_secret":"wire-secret"}'),
      clock,
      defaultTokenUrl: `${origin}/o/token/`,
      scope: "evse:write",
      userAgent: DEFAULT_USER_AGENT,
    });
    const client = new EvEnergyClient({
      baseUrl: `${origin}/v2`,
      tokens,
      clock,
      random: seededRandom(1),
      logger: new CapturingLogger(),
    });

    for await (const _page of client.listEvses()) {
      // reading every page is the point
    }
    await client.getEvse(evseId(1));
    await client.deleteEvse(evseId(1));

    const [token, ...api] = seen;
    expect(token?.method).toBe("POST");
    expect(token?.headers.authorization).toBe(
      `Basic ${Buffer.from("wire-id:wire-secret").toString("base64")}`,
    );
    expect(token?.headers["user-agent"]).toBe(DEFAULT_USER_AGENT);
    expect(new URLSearchParams(token?.body).get("scope")).toBe("evse:write");
    expect(api.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v2/evses?page_size=100&expand=latest_status_log",
      `GET /v2/evses/${evseId(1)}?expand=latest_status_log`,
      `DELETE /v2/evses/${evseId(1)}`,
    ]);
    for (const request of api) {
      expect(request.headers).toMatchObject({
        authorization: "Bearer wire-token",
        "evenergy-version": "2",
        "user-agent": DEFAULT_USER_AGENT,
        accept: "application/json",
      });
    }
  });
});
