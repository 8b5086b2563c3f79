/**
 * Unit tests of the client's policy with an in-memory fetch (no network). The behaviour
 * against a real HTTP server is covered by client.integration.test.ts.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_USER_AGENT, EvEnergyClient } from "../../functions/adapters/ev-energy/client.js";
import type { BearerTokenSource } from "../../functions/adapters/ev-energy/credentials.js";
import {
  EvEnergyProblem,
  EvEnergyUnavailable,
  MalformedResponse,
  PaginationError,
  RateLimited,
} from "../../functions/adapters/ev-energy/errors.js";
import type { EvsePage } from "../../functions/ports.js";
import { ManualClock } from "../../local/manual-clock.js";
import { CapturingLogger, caught, evseId, fakeFetch, json } from "./helpers.js";

const BASE = "https://api.test/v2";

class CountingTokens implements BearerTokenSource {
  refreshes = 0;
  #current = "token-1";
  async token() {
    return this.#current;
  }
  async refresh() {
    this.refreshes += 1;
    this.#current = `token-${this.refreshes + 1}`;
    return this.#current;
  }
}

function setup(
  handler: (request: Request) => Response | Promise<Response>,
  random: () => number = () => 0.5,
) {
  const clock = new ManualClock();
  const logger = new CapturingLogger();
  const tokens = new CountingTokens();
  const server = fakeFetch(handler);
  const client = new EvEnergyClient({
    baseUrl: `${BASE}/`,
    tokens,
    clock,
    random,
    logger,
    fetch: server.fetch,
  });
  return { clock, logger, tokens, client, requests: server.requests };
}

async function collect(pages: AsyncIterable<EvsePage>): Promise<EvsePage[]> {
  const all: EvsePage[] = [];
  for await (const page of pages) all.push(page);
  return all;
}

const item = (n: number) => ({
  id: evseId(n),
  cpid: `CP${n}`,
  lock_mode: null,
  latest_status_log: null,
});

describe("EvEnergyClient (unit)", () => {
  it("sends the documented headers and the list query", async () => {
    const { client, requests } = setup(() => json([]));
    await collect(client.listEvses());
    const request = requests[0];
    expect(request?.url).toBe(`${BASE}/evses?page_size=100&expand=latest_status_log`);
    expect(Object.fromEntries(request?.headers ?? [])).toMatchObject({
      authorization: "Bearer token-1",
      "evenergy-version": "2",
      "user-agent": DEFAULT_USER_AGENT,
      accept: "application/json",
    });
    expect(DEFAULT_USER_AGENT).toMatch(/^evse-ops\/\d+\.\d+\.\d+/);
  });

  it("records the rate limit headers with the clock time", async () => {
    const { client, clock } = setup(() =>
      json([], 200, { "X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "997" }),
    );
    expect(client.rateLimit).toBeUndefined();
    await collect(client.listEvses());
    expect(client.rateLimit).toEqual({ limit: 1000, remaining: 997, observedAt: clock.now() });
  });

  it("follows relative next links and stops at a missing next", async () => {
    const { client, requests } = setup((request) => {
      const after = new URL(request.url).searchParams.get("page_after");
      return after
        ? json([item(2)])
        : json([item(1)], 200, { Link: `</v2/evses/?page_after=${evseId(1)}>; rel="next"` });
    });
    const pages = await collect(client.listEvses());
    expect(pages.map((p) => p.evses.map((e) => e.id))).toEqual([[evseId(1)], [evseId(2)]]);
    expect(pages[0]?.next).toBe(`${BASE.replace("/v2", "")}/v2/evses/?page_after=${evseId(1)}`);
    expect(pages[1]?.next).toBeUndefined();
    expect(requests).toHaveLength(2);
  });

  it("rejects a next link that leads back to the first page", async () => {
    const { client } = setup(() =>
      json([item(1)], 200, {
        Link: `<${BASE}/evses?page_size=100&expand=latest_status_log>; rel="next"`,
      }),
    );
    expect(await caught(() => collect(client.listEvses()))).toBeInstanceOf(PaginationError);
  });

  it("rejects a resumeFrom outside the collection before sending anything", async () => {
    const { client, requests } = setup(() => json([]));
    for (const resumeFrom of ["https://evil.test/v2/evses?page_after=x", `${BASE}/users`, "::"]) {
      expect(await caught(() => collect(client.listEvses({ resumeFrom })))).toBeInstanceOf(
        PaginationError,
      );
    }
    expect(requests).toHaveLength(0);
  });

  it("waits a default backoff on a 429 without Retry-After", async () => {
    let calls = 0;
    const { client, clock } = setup(() => {
      calls += 1;
      return calls === 1 ? json({ title: "Too many" }, 429) : json([]);
    });
    await collect(client.listEvses());
    expect(clock.sleeps).toEqual([200]);
  });

  it("retries 408 and bounds backoff by the deadline", async () => {
    const { client, clock, requests } = setup(
      () => new Response("", { status: 408 }),
      () => 0.99,
    );
    const deadline = clock.now() + 500;
    const error = await caught(() => client.getEvse(evseId(1), { deadline }));
    expect(error).toBeInstanceOf(EvEnergyUnavailable);
    // 198 ms, then 396 ms would end past the deadline: not started.
    expect(clock.sleeps).toEqual([198]);
    expect(requests).toHaveLength(2);
  });

  it("uses full-jitter exponential backoff capped at maxBackoffMs", async () => {
    const clock = new ManualClock();
    const server = fakeFetch(() => new Response("", { status: 503 }));
    const client = new EvEnergyClient({
      baseUrl: BASE,
      tokens: new CountingTokens(),
      clock,
      random: () => 0.5,
      logger: new CapturingLogger(),
      fetch: server.fetch,
      maxAttempts: 6,
      baseBackoffMs: 1000,
      maxBackoffMs: 5000,
    });
    const error = await caught(() => client.deleteEvse(evseId(1)));
    expect(error).toBeInstanceOf(EvEnergyUnavailable);
    expect((error as EvEnergyUnavailable).attempts).toBe(6);
    expect(clock.sleeps).toEqual([500, 1000, 2000, 2500, 2500]);
  });

  it("with retries off: a 5xx is unavailable at once, a 429 is RateLimited at once", async () => {
    const fiveHundred = setup(() => new Response("", { status: 500 }));
    expect(
      await caught(() => fiveHundred.client.getEvse(evseId(1), { retries: false })),
    ).toBeInstanceOf(EvEnergyUnavailable);
    expect(fiveHundred.requests).toHaveLength(1);

    const limited = setup(() => new Response("", { status: 429, headers: { "Retry-After": "7" } }));
    const error = await caught(() => limited.client.deleteEvse(evseId(1), { retries: false }));
    expect(error).toBeInstanceOf(RateLimited);
    expect((error as RateLimited).retryAt).toBe(limited.clock.now() + 7000);
    expect(limited.clock.sleeps).toEqual([]);
  });

  it("keeps the single 401 refresh even with retries off", async () => {
    const { client, tokens, requests } = setup((request) =>
      request.headers.get("authorization") === "Bearer token-1"
        ? json({ title: "Unauthorized", detail: "expired" }, 401)
        : json(item(1)),
    );
    const found = await client.getEvse(evseId(1), { retries: false });
    expect(found.status).toBe("found");
    expect(tokens.refreshes).toBe(1);
    expect(requests).toHaveLength(2);
  });

  it("tells a call's own observer of each request it sends, the one after a 401 too", async () => {
    const { client } = setup((request) =>
      request.headers.get("authorization") === "Bearer token-1"
        ? json({ title: "Unauthorized", detail: "expired" }, 401)
        : json(item(Number(new URL(request.url).pathname.endsWith(evseId(2)) ? 2 : 1))),
    );
    const first: number[] = [];
    const second: number[] = [];
    await Promise.all([
      client.getEvse(evseId(1), { retries: false, onRequest: (r) => first.push(Number(r.status)) }),
      client.getEvse(evseId(2), { onRequest: (r) => second.push(Number(r.status)) }),
    ]);
    // Each heard its own 401 and its own retry, not the other call's requests.
    expect(first).toEqual([401, 200]);
    expect(second).toEqual([401, 200]);
  });

  it("counts a failed renewal after a 401 as a failed attempt: no second exchange at once", async () => {
    const clock = new ManualClock();
    let exchanges = 0;
    const tokens: BearerTokenSource = {
      async token() {
        // The renewal cleared the cached token: every later token() would exchange again.
        exchanges += 1;
        return `token-${exchanges}`;
      },
      async refresh() {
        exchanges += 1;
        throw new EvEnergyUnavailable("POST /oauth/token", 1, new Error("503"));
      },
    };
    const server = fakeFetch(() => json({ title: "Unauthorized", detail: "expired" }, 401));
    const client = new EvEnergyClient({
      baseUrl: BASE,
      tokens,
      clock,
      random: () => 0.5,
      logger: new CapturingLogger(),
      fetch: server.fetch,
    });
    // Retries off (the webhook path): exchange, GET, renewal, and the call ends.
    await expect(client.getEvse(evseId(1), { retries: false })).rejects.toBeInstanceOf(
      EvEnergyUnavailable,
    );
    expect([exchanges, server.requests.length]).toEqual([2, 1]);
    // Retries on: the next attempt comes after a backoff, like any failed attempt.
    const limited = await caught(() => client.getEvse(evseId(1)));
    expect(limited).toBeInstanceOf(EvEnergyProblem);
    expect(clock.sleeps).toEqual([100]);
  });

  it("gives up after a second 401 with the problem", async () => {
    const { client, tokens } = setup(() =>
      json({ title: "Unauthorized", detail: "bad token" }, 401, {
        "content-type": "application/problem+json",
      }),
    );
    const error = await caught(() => client.getEvse(evseId(1)));
    expect(error).toBeInstanceOf(EvEnergyProblem);
    expect(error).toMatchObject({ status: 401, detail: "bad token" });
    expect(tokens.refreshes).toBe(1);
  });

  it("retries a GET answered for a different EVSE, then reports it malformed", async () => {
    const { client, requests } = setup(() => json(item(2)));
    const error = await caught(() => client.getEvse(evseId(1)));
    expect(error).toBeInstanceOf(EvEnergyUnavailable);
    expect((error as Error).cause).toBeInstanceOf(MalformedResponse);
    expect(requests).toHaveLength(4);
  });

  it("answers not-found for an id that cannot exist, without a request", async () => {
    const { client, requests } = setup(() => json({}));
    expect(await client.getEvse("../users")).toEqual({ status: "not-found", evseId: "../users" });
    expect(await client.deleteEvse("evse1")).toEqual({ status: "not-found", evseId: "evse1" });
    expect(requests).toHaveLength(0);
  });
});
