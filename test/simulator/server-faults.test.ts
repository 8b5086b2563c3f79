import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../local/manual-clock.js";
import type { FleetSummary } from "../../local/simulator/fleet.js";
import {
  type RequestLogEntry,
  type SimStats,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../../local/simulator/index.js";

const START = Date.parse("2026-01-01T00:00:00.000Z");
const HEADERS = { Authorization: "Bearer sandbox-token", "EvEnergy-Version": "2" };

const running: Simulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

async function start(options: SimulatorOptions = {}) {
  const clock = new ManualClock(START);
  const sim = await startSimulator({ clock, fleetSize: 12, ...options });
  running.push(sim);
  return { sim, clock };
}

function list(sim: Simulator, query = "", init: RequestInit = {}) {
  return fetch(`${sim.apiBaseUrl}/evses${query}`, { headers: HEADERS, ...init });
}

function nextLink(response: Response): string | undefined {
  return /<([^>]*)>;\s*rel="next"/.exec(response.headers.get("link") ?? "")?.[1];
}

/** Waits until the simulator has logged `count` requests (held requests log at once). */
async function logged(sim: Simulator, count: number): Promise<readonly RequestLogEntry[]> {
  await vi.waitFor(() => expect(sim.requestLog().length).toBeGreaterThanOrEqual(count), {
    interval: 5,
  });
  return sim.requestLog();
}

async function control(sim: Simulator, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sim.origin}/_sim/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("fault rates", () => {
  it("answers 500/502/503 problems at the server error rate, the same mix for the same seed", async () => {
    const statuses = async (sim: Simulator) => {
      const seen: number[] = [];
      for (let i = 0; i < 24; i++) seen.push((await list(sim)).status);
      return seen;
    };
    const a = await start({ faults: { serverErrorRate: 0.5 } });
    const b = await start({ faults: { serverErrorRate: 0.5 } });
    const seen = await statuses(a.sim);
    expect(await statuses(b.sim)).toEqual(seen);
    expect(seen).toContain(200);
    expect(seen.filter((s) => s >= 500).length).toBeGreaterThan(3);
    expect(seen.every((s) => [200, 500, 502, 503].includes(s))).toBe(true);

    a.sim.setFaults({ serverErrorRate: 1 });
    const failed = await list(a.sim);
    expect(failed.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await failed.json()) as { type: string; status: number };
    expect(problem.status).toBe(failed.status);
    expect(problem.type.startsWith("https://api.ev.energy/v2/problems/")).toBe(true);
  });

  it("resets the connection at the reset rate", async () => {
    const { sim } = await start({ faults: { resetRate: 1 } });
    await expect(list(sim)).rejects.toThrow();
    expect(sim.requestLog().at(-1)?.status).toBe("reset");
    sim.setFaults({});
    expect((await list(sim)).status).toBe(200);
  });

  it("holds requests open at the timeout rate until the client gives up", async () => {
    const { sim } = await start({ faults: { timeoutRate: 1 } });
    const client = new AbortController();
    const pending = list(sim, "", { signal: client.signal });
    const log = await logged(sim, 1);
    expect(log[0]).toMatchObject({ route: "GET /v2/evses", status: "timeout", at: START });
    client.abort();
    await expect(pending).rejects.toThrow(/abort/i);
  });

  it("truncates list and get bodies at the malformed JSON rate, not deletes", async () => {
    const { sim } = await start({ faults: { malformedJsonRate: 1 } });
    const listed = await list(sim);
    expect(listed.status).toBe(200);
    await expect(listed.json()).rejects.toThrow();
    const id = sim.fleet.list()[0]?.id;
    const got = await list(sim, `/${id}`);
    await expect(got.json()).rejects.toThrow();
    const deleted = await list(sim, `/${id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
  });

  it("adds latency in real milliseconds", async () => {
    const { sim } = await start({ faults: { latencyMs: 40 } });
    const started = performance.now();
    expect((await list(sim)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });

  it("answers a burst of 429s with its Retry-After, not counting them", async () => {
    const { sim } = await start({ faults: { rateLimitBurst: { count: 2, retryAfterSeconds: 7 } } });
    for (let i = 0; i < 2; i++) {
      const limited = await list(sim);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("7");
    }
    const ok = await list(sim);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-ratelimit-remaining")).toBe("999");
    expect(sim.stats().rateLimited).toBe(2);
  });
});

describe("bad next links", () => {
  it("repeats a cursor the client already followed, once", async () => {
    const { sim } = await start({ fleetSize: 30, faults: { badNextLink: "repeat-cursor" } });
    const first = await list(sim, "?page_size=10");
    const second = await fetch(nextLink(first) as string, { headers: HEADERS });
    const secondCursor = new URL(nextLink(first) as string).searchParams.get("page_after");
    const repeated = new URL(nextLink(second) as string);
    expect(repeated.searchParams.get("page_after")).toBe(secondCursor);
    const again = await fetch(repeated, { headers: HEADERS });
    const fine = new URL(nextLink(again) as string);
    expect(fine.searchParams.get("page_after")).toBe(sim.fleet.list()[19]?.id);
  });

  it("points the next link at another collection, once", async () => {
    const { sim } = await start({ fleetSize: 30, faults: { badNextLink: "foreign-collection" } });
    const first = await list(sim, "?page_size=10");
    const foreign = new URL(nextLink(first) as string);
    expect(foreign.pathname).toBe("/v2/users");
    expect(foreign.searchParams.get("page_after")).toBe(sim.fleet.list()[9]?.id);
    expect((await fetch(foreign, { headers: HEADERS })).status).toBe(404);
    const retry = await list(sim, "?page_size=10");
    expect(new URL(nextLink(retry) as string).pathname).toBe("/v2/evses");
  });
});

describe("scripted faults", () => {
  it("answers scripted statuses in order, only on the matching route", async () => {
    const { sim } = await start();
    const id = sim.fleet.list()[0]?.id;
    sim.script(
      { route: "GET /v2/evses", kind: "status", status: 503 },
      { kind: "status", status: 429, retryAfter: "12" },
      { route: "DELETE /v2/evses/{id}", kind: "status", status: 409, body: { title: "Busy" } },
    );
    expect((await list(sim, `/${id}`)).status).toBe(429);
    const unavailable = await list(sim);
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { status: number }).status).toBe(503);
    const conflict = await list(sim, `/${id}`, { method: "DELETE" });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({ title: "Busy" });
    expect(sim.fleet.get(id as string)).toBeDefined();
    expect((await list(sim)).status).toBe(200);
    expect(sim.stats().rateLimited).toBe(1);
  });

  it("scripts a reset, a timeout and malformed JSON", async () => {
    const { sim } = await start();
    sim.script({ kind: "reset" }, { kind: "malformed-json" }, { kind: "timeout" });
    await expect(list(sim)).rejects.toThrow();
    await expect((await list(sim)).json()).rejects.toThrow();
    const client = new AbortController();
    const pending = list(sim, "", { signal: client.signal });
    const log = await logged(sim, 3);
    expect(log.map((entry) => entry.status)).toEqual(["reset", 200, "timeout"]);
    client.abort();
    await expect(pending).rejects.toThrow();
  });

  it("applies a DELETE and never answers it (timeout-after-apply)", async () => {
    const { sim } = await start();
    const id = sim.fleet.list()[4]?.id as string;
    sim.script({ route: "DELETE /v2/evses/{id}", kind: "timeout-after-apply" });
    const client = new AbortController();
    const pending = list(sim, `/${id}`, { method: "DELETE", signal: client.signal });
    await logged(sim, 1);
    expect(sim.fleet.get(id)).toBeUndefined();
    expect(sim.stats().deleted).toEqual([id]);
    client.abort();
    await expect(pending).rejects.toThrow();
    expect((await list(sim, `/${id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("closes promptly while requests are held open", async () => {
    const { sim } = await start({ faults: { timeoutRate: 1 } });
    const pending = [list(sim), list(sim)];
    await logged(sim, 2);
    await sim.close();
    const outcomes = await Promise.allSettled(pending);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
  });
});

describe("/_sim control surface", () => {
  it("reports stats, the request log and the fleet, without counting itself", async () => {
    const { sim } = await start({ fleetSize: 50 });
    await list(sim);
    await list(sim, `/${sim.fleet.list()[0]?.id}`);
    await fetch(`${sim.apiBaseUrl}/evses`);
    const stats = (await (await control(sim, "stats")).json()) as SimStats;
    expect(stats).toEqual({
      requests: { "GET /v2/evses": 2, "GET /v2/evses/{id}": 1 },
      total: 3,
      rateLimited: 0,
      deleted: [],
    });
    const log = (await (await control(sim, "requests")).json()) as RequestLogEntry[];
    expect(log).toEqual([
      { at: START, method: "GET", route: "GET /v2/evses", status: 200, bucket: "sandbox-token" },
      {
        at: START,
        method: "GET",
        route: "GET /v2/evses/{id}",
        status: 200,
        bucket: "sandbox-token",
      },
      { at: START, method: "GET", route: "GET /v2/evses", status: 401 },
    ]);
    const fleet = (await (await control(sim, "fleet")).json()) as FleetSummary;
    expect(fleet.size).toBe(50);
    expect(fleet.online + fleet.offline + fleet.neverReported).toBe(50);
    expect(fleet.online).toBeGreaterThan(40);
    expect(fleet.charging).toBeLessThanOrEqual(fleet.pluggedIn);
    expect(sim.stats().total).toBe(3);
  });

  it("sets faults and scripts, advances time and resets", async () => {
    const { sim, clock } = await start({ fleetSize: 20, rateLimit: 2 });
    const original = sim.fleet.list().map((d) => d.id);
    expect((await control(sim, "faults", { serverErrorRate: 1 })).status).toBe(200);
    expect((await list(sim)).status).toBeGreaterThanOrEqual(500);
    await control(sim, "faults", {});
    expect((await control(sim, "script", [{ kind: "status", status: 502 }])).status).toBe(200);
    expect((await list(sim)).status).toBe(502);
    expect((await list(sim)).status).toBe(429);
    expect(await (await control(sim, "advance", { seconds: 3600 })).json()).toEqual({
      now: START + 3_600_000,
    });
    await control(sim, "advance", { ms: 5 });
    expect(clock.now()).toBe(START + 3_600_005);
    expect((await list(sim)).status).toBe(200);

    await list(sim, `/${original[0]}`, { method: "DELETE" });
    expect(sim.fleet.list()).toHaveLength(19);
    expect((await control(sim, "reset", {})).status).toBe(200);
    expect(sim.fleet.list().map((d) => d.id)).toEqual(original);
    expect(sim.stats()).toEqual({ requests: {}, total: 0, rateLimited: 0, deleted: [] });
    expect(sim.requestLog()).toEqual([]);
    expect((await list(sim)).headers.get("x-ratelimit-remaining")).toBe("1");

    expect((await control(sim, "faults", { serverErrorRate: 2 })).status).toBe(400);
    expect((await control(sim, "script", [{ kind: "explode" }])).status).toBe(400);
    expect((await control(sim, "advance", { ms: -1 })).status).toBe(400);
    expect((await control(sim, "nothing")).status).toBe(404);
  });

  it("refuses a misspelt fault or malformed JSON with a problem naming what is wrong", async () => {
    const { sim } = await start();
    await control(sim, "faults", { latencyMs: 0, serverErrorRate: 0.5 });
    for (const [body, named] of [
      [{ serverErrorRat: 0.2 }, '"serverErrorRat"'],
      [{ rateLimitBurst: { count: 1, retryAfter: 5 } }, '"retryAfter"'],
    ] as const) {
      const refused = await control(sim, "faults", body);
      expect(refused.status).toBe(400);
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
      const problem = (await refused.json()) as Record<string, unknown>;
      expect(problem).toMatchObject({ status: 400, title: "Bad Request" });
      expect(problem.detail).toContain(`unknown`);
      expect(problem.detail).toContain(named);
      expect(problem.instance).toBe(`${sim.origin}/_sim/faults`);
    }
    const notJson = await fetch(`${sim.origin}/_sim/faults`, { method: "POST", body: "{" });
    expect(((await notJson.json()) as { detail: string }).detail).toBe(
      "The body is not valid JSON.",
    );
    expect(await (await control(sim, "faults", {})).json()).toEqual({});
  });
});

describe("/_sim/churn", () => {
  it("changes the asked fraction of the fleet and journals each change", async () => {
    const { sim } = await start({ fleetSize: 200 });
    const answer = await control(sim, "churn", { fraction: 0.05 });
    const { changed } = (await answer.json()) as { changed: number };
    const devices = new Set(sim.fleet.changes().map((change) => change.evseId));
    expect(devices.size).toBe(10);
    expect(changed).toBe(sim.fleet.changes().length);
    expect((await control(sim, "churn", { fraction: 2 })).status).toBe(400);
  });
});

describe("CLI", () => {
  it("prints its URLs, serves, and exits cleanly on SIGTERM", async () => {
    const main = fileURLToPath(new URL("../../local/simulator/main.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--import", "tsx", main, "--fleet", "7", "--seed", "3", "--rate-limit", "50"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const lines = createInterface({ input: child.stdout });
      const first = await lines[Symbol.asyncIterator]().next();
      const urls = JSON.parse(String(first.value)) as Record<string, string>;
      expect(urls.apiBaseUrl).toBe(`${urls.origin}/v2`);
      expect(urls.tokenUrl).toBe(`${urls.origin}/o/token/`);
      const response = await fetch(`${urls.apiBaseUrl}/evses?page_size=100`, { headers: HEADERS });
      expect((await response.json()) as unknown[]).toHaveLength(7);
      expect(response.headers.get("x-ratelimit-limit")).toBe("50");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
