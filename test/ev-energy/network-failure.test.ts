import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { EvEnergyClient } from "../../functions/adapters/ev-energy/client.js";
import { AccessTokenProvider } from "../../functions/adapters/ev-energy/credentials.js";
import { networkFailureReason } from "../../functions/lib/network-failure.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { CapturingLogger, caught, FakeSecretSource } from "./helpers.js";

const SECRET = JSON.stringify({ client_id: "c-id-123", client_secret: "s3cr3t-value" });

/** A port nothing listens on: taken, then given back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function client(baseUrl: string, options: { tokenUrl?: string; fetch?: typeof fetch } = {}) {
  const clock = new ManualClock();
  const secrets = new FakeSecretSource(
    options.tokenUrl ? SECRET : JSON.stringify({ access_token: "tok-abc-123" }),
  );
  return new EvEnergyClient({
    baseUrl,
    tokens: new AccessTokenProvider({
      secrets,
      clock,
      defaultTokenUrl: options.tokenUrl ?? `${baseUrl}/o/token/`,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    }),
    clock,
    random: seededRandom(1),
    logger: new CapturingLogger(),
    maxAttempts: 1,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

async function firstPage(api: EvEnergyClient): Promise<Error> {
  const error = await caught(async () => {
    for await (const _page of api.listEvses()) break;
  });
  if (!(error instanceof Error)) throw new Error("not an Error");
  return error;
}

describe("a request that gets no answer", () => {
  it("names the host and ECONNREFUSED, without the token", async () => {
    const port = await closedPort();
    const error = await firstPage(client(`http://127.0.0.1:${port}/v2`));
    expect(error.name).toBe("EvEnergyUnavailable");
    expect(error.message).toContain(
      `GET /v2/evses to 127.0.0.1:${port} failed: connection refused (ECONNREFUSED)`,
    );
    expect(error.message).not.toContain("tok-abc-123");
  });

  it("names the token endpoint's host when the exchange cannot connect, without the secret", async () => {
    const port = await closedPort();
    const error = await firstPage(
      client("https://api.ev.energy/v2", { tokenUrl: `http://127.0.0.1:${port}/o/token/` }),
    );
    expect(error.message).toContain(
      `POST /o/token/ to 127.0.0.1:${port} failed: connection refused (ECONNREFUSED)`,
    );
    expect(error.message).not.toMatch(/s3cr3t|c-id-123/);
  });

  it("names a TLS failure (https to a server that speaks plain HTTP)", async () => {
    const server = createServer((_request, response) => response.end("plain"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const error = await firstPage(client(`https://127.0.0.1:${port}/v2`));
      expect(error.message).toMatch(
        new RegExp(`to 127\\.0\\.0\\.1:${port} failed: TLS: .+ \\(ERR_SSL_[A-Z_]+\\)`),
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("names a DNS failure as fetch reports it (host and port, ENOTFOUND)", async () => {
    const dns = Object.assign(new Error("getaddrinfo ENOTFOUND api.ev.energy"), {
      code: "ENOTFOUND",
      hostname: "api.ev.energy",
    });
    const failing: typeof fetch = async () => {
      throw new TypeError("fetch failed", { cause: dns });
    };
    const error = await firstPage(client("https://api.ev.energy/v2", { fetch: failing }));
    expect(error.message).toContain(
      "GET /v2/evses to api.ev.energy:443 failed: DNS: host name not found (ENOTFOUND)",
    );
  });

  it("reads the cause inside an AggregateError (several addresses refused), or the innermost message", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED ::1:3001"), {
      code: "ECONNREFUSED",
    });
    const aggregate = new TypeError("fetch failed", {
      cause: new AggregateError([refused, refused], ""),
    });
    expect(networkFailureReason(aggregate)).toBe("connection refused (ECONNREFUSED)");
    expect(
      networkFailureReason(new TypeError("fetch failed", { cause: new Error("bad port") })),
    ).toBe("bad port");
    expect(networkFailureReason(new TypeError("fetch failed"))).toBe("no answer (network error)");
  });
});
