import { describe, expect, it } from "vitest";
import {
  AccessTokenProvider,
  defaultTokenUrl,
  parseCredentials,
} from "../../functions/adapters/ev-energy/credentials.js";
import {
  CredentialsError,
  EvEnergyUnavailable,
} from "../../functions/adapters/ev-energy/errors.js";
import type { RequestObserver } from "../../functions/ports.js";
import { ManualClock } from "../../local/manual-clock.js";
import {
  CapturingLogger,
  caught,
  errorText,
  FakeSecretSource,
  fakeFetch,
  json,
} from "./helpers.js";

const CLIENT_SECRET = "cs-7f3a9e1b-not-for-logs";
const clientSecretJson = JSON.stringify({ client_id: "fleet-app", client_secret: CLIENT_SECRET });

describe("parseCredentials", () => {
  it("reads an access token secret", () => {
    expect(parseCredentials('{"access_token":"tok-123"}')).toEqual({
      kind: "access-token",
      accessToken: "tok-123",
    });
  });

  it("reads client credentials with and without token_url", () => {
    expect(parseCredentials(clientSecretJson)).toEqual({
      kind: "client-credentials",
      clientId: "fleet-app",
      clientSecret: CLIENT_SECRET,
    });
    expect(
      parseCredentials(
        JSON.stringify({
          client_id: "a",
          client_secret: "b",
          token_url: "https://x.test/o/token/",
        }),
      ),
    ).toMatchObject({ tokenUrl: "https://x.test/o/token/" });
  });

  it.each([
    ["", "ev.energy secret is empty"],
    [`{"client_secret": ${CLIENT_SECRET}`, "ev.energy secret is not valid JSON"],
    ['["a"]', "ev.energy secret is not a JSON object"],
    ['{"token": "x"}', "ev.energy secret has neither access_token nor client_id+client_secret"],
    ['{"client_id": "a"}', "ev.energy secret has client_id but is missing client_secret"],
    [
      `{"client_secret": "${CLIENT_SECRET}"}`,
      "ev.energy secret has client_secret but is missing client_id",
    ],
    [
      `{"client_id": "a", "client_secret": 5}`,
      "ev.energy secret: client_secret is not a non-empty string",
    ],
    [
      `{"client_id": "a", "client_secret": "${CLIENT_SECRET}", "token_url": "ftp://x"}`,
      "ev.energy secret: token_url is not an https URL (plain http only to localhost or 127.0.0.1: the client secret is sent there)",
    ],
    [
      `{"client_id": "a", "client_secret": "${CLIENT_SECRET}", "token_url": "http://api.ev.energy/o/token/"}`,
      "ev.energy secret: token_url is not an https URL (plain http only to localhost or 127.0.0.1: the client secret is sent there)",
    ],
    [
      `{"client_id": "a", "client_secret": "${CLIENT_SECRET}", "token_url": "http://127.0.0.1.evil.example/o/token/"}`,
      "ev.energy secret: token_url is not an https URL (plain http only to localhost or 127.0.0.1: the client secret is sent there)",
    ],
    [
      '{"access_token": "has a space"}',
      "ev.energy secret: access_token is not a valid bearer token (printable ASCII without spaces)",
    ],
  ])("rejects %j with a message naming what is wrong", (secret, message) => {
    let thrown: unknown;
    try {
      parseCredentials(secret);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CredentialsError);
    expect(thrown).toMatchObject({ name: "CredentialsError", message });
    expect(errorText(thrown)).not.toContain(CLIENT_SECRET);
    expect(errorText(thrown)).not.toContain("has a space");
  });
});

describe("defaultTokenUrl", () => {
  it("is the API origin + /o/token/", () => {
    expect(defaultTokenUrl("https://api.ev.energy/v2")).toBe("https://api.ev.energy/o/token/");
  });
});

function tokenServer(lifetimeSeconds = 36_000) {
  let issued = 0;
  const server = fakeFetch(async () => {
    issued += 1;
    return json({
      access_token: `issued-${issued}`,
      token_type: "Bearer",
      expires_in: lifetimeSeconds,
      scope: "evse:read",
    });
  });
  return { ...server, issued: () => issued };
}

function provider(
  secrets: FakeSecretSource,
  clock: ManualClock,
  fetchImpl: typeof fetch,
  extra: { onRequest?: RequestObserver; logger?: CapturingLogger } = {},
) {
  return new AccessTokenProvider({
    secrets,
    clock,
    defaultTokenUrl: "https://api.test/o/token/",
    scope: "evse:read",
    userAgent: "evse-ops/test",
    fetch: fetchImpl,
    ...extra,
  });
}

describe("AccessTokenProvider", () => {
  it("exchanges client credentials with HTTP Basic, grant_type and scope", async () => {
    const server = tokenServer();
    const observed: Parameters<RequestObserver>[0][] = [];
    const tokens = provider(
      new FakeSecretSource(clientSecretJson),
      new ManualClock(),
      server.fetch,
      {
        onRequest: (request) => observed.push(request),
      },
    );

    expect(await tokens.token()).toBe("issued-1");

    const request = server.requests[0];
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe("https://api.test/o/token/");
    expect(request?.headers.get("authorization")).toBe(
      `Basic ${Buffer.from(`fleet-app:${CLIENT_SECRET}`).toString("base64")}`,
    );
    expect(request?.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    const body = new URLSearchParams(await request?.text());
    expect(body.get("grant_type")).toBe("client_credentials");
    expect(body.get("scope")).toBe("evse:read");
    expect(observed).toEqual([
      { kind: "token", method: "POST", status: 200, at: Date.parse("2026-01-01T00:00:00Z") },
    ]);
  });

  it("uses the secret's token_url when it has one", async () => {
    const server = tokenServer();
    const secret = JSON.stringify({
      client_id: "a",
      client_secret: "b",
      token_url: "https://auth.test/o/token/",
    });
    await provider(new FakeSecretSource(secret), new ManualClock(), server.fetch).token();
    expect(server.requests[0]?.url).toBe("https://auth.test/o/token/");
  });

  it("never sends the client secret in clear: a non-https token endpoint off this machine is refused unsent", async () => {
    const server = tokenServer();
    const tokens = new AccessTokenProvider({
      secrets: new FakeSecretSource(clientSecretJson),
      clock: new ManualClock(),
      defaultTokenUrl: "http://api.test/o/token/",
      fetch: server.fetch,
    });
    await expect(tokens.token()).rejects.toThrow(/token endpoint is not https/);
    expect(server.requests).toHaveLength(0);
    // The simulator on this machine is plain http, and that is fine.
    const local = new AccessTokenProvider({
      secrets: new FakeSecretSource(clientSecretJson),
      clock: new ManualClock(),
      defaultTokenUrl: "http://127.0.0.1:3001/o/token/",
      fetch: server.fetch,
    });
    expect(await local.token()).toBe("issued-1");
  });

  it("caches the token until 5 minutes before expires_in, by the injected clock", async () => {
    const server = tokenServer(36_000);
    const clock = new ManualClock();
    const tokens = provider(new FakeSecretSource(clientSecretJson), clock, server.fetch);

    await tokens.token();
    clock.advance(36_000_000 - 5 * 60_000 - 1);
    expect(await tokens.token()).toBe("issued-1");
    clock.advance(1);
    expect(await tokens.token()).toBe("issued-2");
    expect(server.issued()).toBe(2);
  });

  it("shares one exchange between 100 concurrent callers", async () => {
    const server = tokenServer();
    const tokens = provider(
      new FakeSecretSource(clientSecretJson),
      new ManualClock(),
      server.fetch,
    );

    const all = await Promise.all(Array.from({ length: 100 }, () => tokens.token()));

    expect(new Set(all)).toEqual(new Set(["issued-1"]));
    expect(server.issued()).toBe(1);
  });

  it("refresh re-reads the secret fresh and exchanges again, once for concurrent 401s", async () => {
    const server = tokenServer();
    const secrets = new FakeSecretSource(clientSecretJson);
    const tokens = provider(secrets, new ManualClock(), server.fetch);
    const rejected = await tokens.token();

    const renewed = await Promise.all([tokens.refresh(rejected), tokens.refresh(rejected)]);
    const late = await tokens.refresh(rejected);

    expect(renewed).toEqual(["issued-2", "issued-2"]);
    expect(late).toBe("issued-2");
    expect(secrets.freshReads).toBe(1);
    expect(server.issued()).toBe(2);
  });

  it("serves a bare access token without any exchange and warns it is for trials", async () => {
    const server = tokenServer();
    const logger = new CapturingLogger();
    const secrets = new FakeSecretSource('{"access_token":"trial-token"}');
    const tokens = provider(secrets, new ManualClock(), server.fetch, { logger });

    expect(await tokens.token()).toBe("trial-token");
    expect(await tokens.token()).toBe("trial-token");
    secrets.value = '{"access_token":"rotated-token"}';
    expect(await tokens.refresh("trial-token")).toBe("rotated-token");

    expect(server.issued()).toBe(0);
    expect(logger.warnings().map((l) => l.message)).toEqual([
      expect.stringContaining("for trials only"),
    ]);
    expect(logger.text()).not.toContain("trial-token");
  });

  it("reports rejected client credentials as a CredentialsError with the OAuth error code", async () => {
    const server = fakeFetch(() => json({ error: "invalid_client" }, 401));
    const error = await caught(() =>
      provider(new FakeSecretSource(clientSecretJson), new ManualClock(), server.fetch).token(),
    );
    expect(error).toBeInstanceOf(CredentialsError);
    expect((error as Error).message).toBe(
      "ev.energy rejected the client credentials (POST /o/token/ answered 401, invalid_client)",
    );
  });

  it("reports a failing token endpoint as EvEnergyUnavailable, and tries again next time", async () => {
    let calls = 0;
    const server = fakeFetch(() => {
      calls += 1;
      return calls === 1
        ? new Response("oops", { status: 503 })
        : json({ access_token: "ok", expires_in: 3600 });
    });
    const tokens = provider(
      new FakeSecretSource(clientSecretJson),
      new ManualClock(),
      server.fetch,
    );

    expect(await caught(() => tokens.token())).toBeInstanceOf(EvEnergyUnavailable);
    expect(await tokens.token()).toBe("ok");
  });

  it("never echoes an unusable token response", async () => {
    const server = fakeFetch(() => json({ access_token: "bad token with spaces" }));
    const error = await caught(() =>
      provider(new FakeSecretSource(clientSecretJson), new ManualClock(), server.fetch).token(),
    );
    expect(error).toBeInstanceOf(EvEnergyUnavailable);
    expect(errorText(error)).not.toContain("bad token");
  });
});
