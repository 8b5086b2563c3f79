/**
 * No secret and no token in any log line or error: a run with a known client secret that
 * captures every log line and every error (message, stack, causes) while forcing the paths
 * that log or throw, and then searches them all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EvEnergyClient } from "../../functions/adapters/ev-energy/client.js";
import { AccessTokenProvider } from "../../functions/adapters/ev-energy/credentials.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { startSimulator } from "../../local/simulator/index.js";
import type { Simulator } from "../../local/simulator/types.js";
import { CapturingLogger, errorText, FakeSecretSource } from "./helpers.js";

const CLIENT_ID = "leak-check-client";
const CLIENT_SECRET = "Xq7-leak-check-secret-0f9e8d7c6b5a";

describe("credentials never leak", () => {
  const clock = new ManualClock();
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({
      fleetSize: 150,
      clock,
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scopes: ["evse:read"] }],
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  it("keeps the client secret and every issued token out of logs and errors", async () => {
    const logger = new CapturingLogger();
    const errors: unknown[] = [];
    const issuedTokens: string[] = [];
    // Reads every token response the client receives, to know what must never be logged.
    const watchingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).includes("/o/token/") && response.ok) {
        const body: unknown = await response.clone().json();
        if (typeof body === "object" && body !== null && "access_token" in body) {
          issuedTokens.push(String(body.access_token));
        }
      }
      return response;
    };
    const secrets = new FakeSecretSource(
      JSON.stringify({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
    );
    const tokens = new AccessTokenProvider({
      secrets,
      clock,
      defaultTokenUrl: sim.tokenUrl,
      scope: "evse:read",
      logger,
      fetch: watchingFetch,
    });
    const client = new EvEnergyClient({
      baseUrl: sim.apiBaseUrl,
      tokens,
      clock,
      random: seededRandom(3),
      logger,
      fetch: watchingFetch,
    });
    const attempt = async (action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (error) {
        errors.push(error);
      }
    };
    const listAll = async () => {
      for await (const _page of client.listEvses()) {
        // every page, for the log lines reading them produces
      }
    };
    const id = sim.fleet.list()[0]?.id ?? "";

    // A clean run, a 401 with renewal, transient failures, problems, malformed bodies.
    await attempt(listAll);
    sim.script({ route: "GET /v2/evses", kind: "status", status: 401 });
    await attempt(listAll);
    const unavailable = { route: "GET /v2/evses/{id}", kind: "status", status: 503 } as const;
    sim.script(unavailable, unavailable, unavailable, unavailable);
    await attempt(() => client.getEvse(id));
    sim.script({ route: "GET /v2/evses/{id}", kind: "malformed-json" }, { kind: "reset" });
    await attempt(() => client.getEvse(id));
    sim.script(
      { route: "GET /v2/evses/{id}", kind: "status", status: 401 },
      { route: "GET /v2/evses/{id}", kind: "status", status: 401 },
    );
    await attempt(() => client.getEvse(id));
    sim.script({ route: "GET /v2/evses/{id}", kind: "status", status: 422 });
    await attempt(() => client.getEvse(id));
    // The read-only client may not delete: a 403 problem.
    await attempt(() => client.deleteEvse(id));
    // Bad secret shapes, each holding the secret somewhere a careless message would quote.
    for (const bad of [
      `{"client_id": "${CLIENT_ID}", "client_secret": ${CLIENT_SECRET}}`,
      JSON.stringify({ client_secret: CLIENT_SECRET }),
      JSON.stringify({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token_url: 5 }),
      // A token endpoint in clear across a network would carry the secret in clear.
      JSON.stringify({
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        token_url: "http://api.ev.energy/o/token/",
      }),
      JSON.stringify({ access_token: `${CLIENT_SECRET} with spaces` }),
    ]) {
      secrets.value = bad;
      await attempt(() => tokens.refresh());
    }
    // A wrong secret: ev.energy rejects the client.
    secrets.value = JSON.stringify({ client_id: CLIENT_ID, client_secret: `${CLIENT_SECRET}-old` });
    await attempt(() => tokens.refresh());

    expect(issuedTokens.length).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeGreaterThanOrEqual(9);
    expect(logger.lines.length).toBeGreaterThan(0);
    const everything = [logger.text(), ...errors.map(errorText)].join("\n");
    const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64");
    for (const secret of [CLIENT_SECRET, basic, ...issuedTokens]) {
      expect(everything).not.toContain(secret);
    }
    expect(errors.map((error) => (error instanceof Error ? error.name : "?"))).toEqual(
      expect.arrayContaining(["EvEnergyUnavailable", "EvEnergyProblem", "CredentialsError"]),
    );
    // The errors still say what went wrong.
    expect(errors.map(String)).toEqual(
      expect.arrayContaining([
        expect.stringContaining("ev.energy secret is not valid JSON"),
        expect.stringContaining("missing client_id"),
        expect.stringContaining("token_url is not an https URL"),
        expect.stringContaining("plain http only to localhost"),
        expect.stringContaining("rejected the client credentials"),
      ]),
    );
  });
});
