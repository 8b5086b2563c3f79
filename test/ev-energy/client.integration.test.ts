/**
 * The client against the simulated ev.energy over real HTTP. The simulator and the client
 * share a ManualClock, so Retry-After waits and backoff happen instantly while both see time
 * pass (`clock.sleeps` records every wait).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EvEnergyClient } from "../../functions/adapters/ev-energy/client.js";
import { AccessTokenProvider } from "../../functions/adapters/ev-energy/credentials.js";
import {
  EvEnergyProblem,
  EvEnergyUnavailable,
  MalformedResponse,
  PaginationError,
  RateLimited,
} from "../../functions/adapters/ev-energy/errors.js";
import type { EvsePage, ListOptions, RequestObserver } from "../../functions/ports.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { startSimulator } from "../../local/simulator/index.js";
import type { Simulator } from "../../local/simulator/types.js";
import { CapturingLogger, caught, FakeSecretSource } from "./helpers.js";

const SANDBOX_SECRET = JSON.stringify({
  client_id: "sandbox-client",
  client_secret: "sandbox-secret",
});

interface Harness {
  client: EvEnergyClient;
  tokens: AccessTokenProvider;
  logger: CapturingLogger;
  observed: Parameters<RequestObserver>[0][];
}

function harness(
  sim: Simulator,
  clock: ManualClock,
  options: { requestTimeoutMs?: number; scope?: string; secret?: string } = {},
): Harness {
  const logger = new CapturingLogger();
  const observed: Parameters<RequestObserver>[0][] = [];
  const onRequest: RequestObserver = (request) => observed.push(request);
  const tokens = new AccessTokenProvider({
    secrets: new FakeSecretSource(options.secret ?? SANDBOX_SECRET),
    clock,
    defaultTokenUrl: sim.tokenUrl,
    scope: options.scope ?? "evse:read",
    logger,
    onRequest,
  });
  const client = new EvEnergyClient({
    baseUrl: sim.apiBaseUrl,
    tokens,
    clock,
    random: seededRandom(7),
    logger,
    onRequest,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
  });
  return { client, tokens, logger, observed };
}

async function listAll(client: EvEnergyClient, options?: ListOptions): Promise<EvsePage[]> {
  const pages: EvsePage[] = [];
  for await (const page of client.listEvses(options)) pages.push(page);
  return pages;
}

const ids = (pages: EvsePage[]) => pages.flatMap((page) => page.evses.map((evse) => evse.id));
const listRequests = (sim: Simulator) => sim.stats().requests["GET /v2/evses"] ?? 0;
const tokenRequests = (sim: Simulator) => sim.stats().requests["POST /o/token/"] ?? 0;

describe("listing complete fleets", () => {
  it.each([0, 1, 100, 101, 10_000])(
    "lists a fleet of %i with max(1, ceil(N/100)) list requests",
    async (size) => {
      const clock = new ManualClock();
      const sim = await startSimulator({ fleetSize: size, clock });
      try {
        const { client } = harness(sim, clock);
        const pages = await listAll(client);
        const listed = ids(pages);
        expect(listed).toEqual(sim.fleet.list().map((device) => device.id));
        expect(new Set(listed).size).toBe(size);
        expect(listRequests(sim)).toBe(Math.max(1, Math.ceil(size / 100)));
        expect(pages.at(-1)?.next).toBeUndefined();
        expect(pages.every((page) => page.droppedCount === 0)).toBe(true);
      } finally {
        await sim.close();
      }
    },
  );
});

describe("client credentials with reserved characters", () => {
  it("are form-encoded inside HTTP Basic and accepted (RFC 6749 §2.3.1)", async () => {
    const clock = new ManualClock();
    const credentials = { clientId: "fleet:app", clientSecret: "p@ss:w/rd+ =%?&é" };
    const sim = await startSimulator({
      fleetSize: 5,
      clock,
      clients: [{ ...credentials, scopes: ["evse:read"] }],
    });
    try {
      const secret = JSON.stringify({
        client_id: credentials.clientId,
        client_secret: credentials.clientSecret,
      });
      const { client } = harness(sim, clock, { secret });
      expect(ids(await listAll(client))).toHaveLength(5);
      expect(tokenRequests(sim)).toBe(1);
    } finally {
      await sim.close();
    }
  });
});

describe("EvEnergyClient against the simulator", () => {
  const clock = new ManualClock();
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({ fleetSize: 250, clock });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.reset();
    clock.sleeps.splice(0);
  });

  const firstId = () => sim.fleet.list()[0]?.id ?? "";

  describe("pagination", () => {
    it("follows next links to the end and reports each page's url and next", async () => {
      const { client } = harness(sim, clock);
      const pages = await listAll(client);
      expect(pages.map((page) => page.evses.length)).toEqual([100, 100, 50]);
      expect(pages[1]?.url).toBe(pages[0]?.next);
      expect(pages[2]?.url).toBe(pages[1]?.next);
      expect(pages[2]?.next).toBeUndefined();
    });

    it("ends a listing without a next link as well as at about:blank", async () => {
      sim.setFaults({ endOfList: "omit" });
      const { client } = harness(sim, clock);
      expect(ids(await listAll(client))).toHaveLength(250);
      expect(listRequests(sim)).toBe(3);
    });

    it("resumes at a saved next link and reads only the rest", async () => {
      const { client } = harness(sim, clock);
      const [first] = await listAll(client).then((pages) => pages.slice(0, 1));
      const before = listRequests(sim);
      const rest = await listAll(client, { resumeFrom: first?.next });
      expect([...(first?.evses.map((e) => e.id) ?? []), ...ids(rest)]).toEqual(
        sim.fleet.list().map((device) => device.id),
      );
      expect(listRequests(sim) - before).toBe(2);
    });

    it("stops with PaginationError when a next link repeats a cursor", async () => {
      sim.setFaults({ badNextLink: "repeat-cursor" });
      const { client } = harness(sim, clock);
      const error = await caught(() => listAll(client));
      expect(error).toBeInstanceOf(PaginationError);
      expect(listRequests(sim)).toBeLessThanOrEqual(3);
    });

    it("stops with PaginationError when a next link leaves the collection", async () => {
      sim.setFaults({ badNextLink: "foreign-collection" });
      const { client } = harness(sim, clock);
      expect(await caught(() => listAll(client))).toBeInstanceOf(PaginationError);
    });

    it("records the rate limit ev.energy reports", async () => {
      const { client } = harness(sim, clock);
      await listAll(client);
      expect(client.rateLimit).toMatchObject({ limit: 1000, observedAt: clock.now() });
      expect(client.rateLimit?.remaining).toBeLessThan(1000);
    });
  });

  describe("tolerant reading", () => {
    it("reads latest_status_log as an object, a URL string or null", async () => {
      const [expanded, referenced, never] = sim.fleet.list();
      if (!expanded || !referenced || !never) throw new Error("fleet too small");
      const url = `${sim.apiBaseUrl}/evses/${referenced.id}/status_logs/2026-01-01T00:00:00Z/`;
      sim.fleet.update(referenced.id, { rawOverride: { latest_status_log: url } });
      sim.fleet.update(never.id, { status: null });
      sim.fleet.update(expanded.id, {
        status: { isPluggedIn: true, isCharging: true, chargeRateWatts: 7400 },
      });
      const { client, logger } = harness(sim, clock);

      const evses = (await listAll(client)).flatMap((page) => page.evses);
      const byId = new Map(evses.map((evse) => [evse.id, evse]));

      expect(byId.get(expanded.id)?.latestStatusLog).toMatchObject({
        sampledAt: new Date(clock.now()).toISOString(),
        isPluggedIn: true,
        isCharging: true,
        chargeRateWatts: 7400,
      });
      expect(byId.get(referenced.id)?.latestStatusLog).toBeUndefined();
      expect(byId.get(referenced.id)?.latestStatusLogUrl).toBe(url);
      expect(byId.get(never.id)?.latestStatusLog).toBeNull();
      expect(logger.warnings()).toEqual([]);
    });

    it("keeps items with missing, wrongly typed or null fields and names each in a warning", async () => {
      const [noCpid, badLock, nullSample] = sim.fleet.list();
      if (!noCpid || !badLock || !nullSample) throw new Error("fleet too small");
      sim.fleet.update(noCpid.id, { rawOverride: { cpid: undefined } });
      sim.fleet.update(badLock.id, { rawOverride: { lock_mode: 42 } });
      sim.fleet.update(nullSample.id, {
        rawOverride: {
          latest_status_log: {
            sampled_at: null,
            logged_at: null,
            is_plugged_in: null,
            is_charging: null,
            charge_rate_watts: null,
            export_power_watts: null,
          },
        },
      });
      const { client, logger } = harness(sim, clock);

      const evses = (await listAll(client)).flatMap((page) => page.evses);
      const byId = new Map(evses.map((evse) => [evse.id, evse]));

      expect(evses).toHaveLength(250);
      expect(byId.get(noCpid.id)?.cpid).toBeUndefined();
      expect(byId.get(noCpid.id)?.lockMode).toBe(noCpid.lockMode);
      expect(byId.get(badLock.id)?.lockMode).toBeUndefined();
      expect(byId.get(badLock.id)?.cpid).toBe(badLock.cpid);
      expect(byId.get(nullSample.id)?.latestStatusLog).toBeUndefined();
      expect(logger.warnings().map((line) => line.extra[0])).toEqual([
        { evseId: noCpid.id, fields: ["cpid (missing)"] },
        { evseId: badLock.id, fields: ["lock_mode (invalid)"] },
        { evseId: nullSample.id, fields: ["latest_status_log.sampled_at (invalid)"] },
      ]);
    });

    it("drops and counts an id-less item, logging its position, and keeps the rest of the page", async () => {
      const devices = sim.fleet.list();
      const after = devices[9]?.id ?? "";
      sim.fleet.addInvalidItem(after, { cpid: "PRIVATE-CPID-123", id: 12345 });
      const { client, logger } = harness(sim, clock);

      const pages = await listAll(client);

      expect(pages.reduce((sum, page) => sum + page.droppedCount, 0)).toBe(1);
      expect(ids(pages)).toEqual(devices.map((device) => device.id));
      const dropped = logger.warnings().filter((line) => line.message.includes("dropped"));
      expect(dropped).toHaveLength(1);
      expect(dropped[0]?.extra[0]).toMatchObject({ position: 10 });
      expect(logger.text()).not.toContain("PRIVATE-CPID-123");
    });
  });

  describe("single EVSEs", () => {
    it("gets an EVSE that exists and reports one that does not as not-found", async () => {
      const { client } = harness(sim, clock);
      const device = sim.fleet.list()[3];
      if (!device) throw new Error("fleet too small");
      expect(await client.getEvse(device.id)).toEqual({
        status: "found",
        evse: expect.objectContaining({ id: device.id, cpid: device.cpid }),
      });
      const unknown = "evse00000000000000000000000000";
      expect(await client.getEvse(unknown)).toEqual({ status: "not-found", evseId: unknown });
    });

    it("deletes an EVSE (204), then finds it gone (404)", async () => {
      const { client } = harness(sim, clock, { scope: "evse:write" });
      const id = firstId();
      expect(await client.deleteEvse(id)).toEqual({ status: "deleted" });
      expect(await client.deleteEvse(id)).toEqual({ status: "not-found", evseId: id });
      expect(sim.stats().deleted).toEqual([id]);
      expect(sim.fleet.get(id)).toBeUndefined();
    });
  });

  describe("retry policy", () => {
    it("waits Retry-After given in seconds, without sleeping for real", async () => {
      sim.script({ route: "GET /v2/evses", kind: "status", status: 429, retryAfter: "30" });
      const { client } = harness(sim, clock);
      const started = Date.now();
      expect(ids(await listAll(client))).toHaveLength(250);
      expect(clock.sleeps).toEqual([30_000]);
      expect(listRequests(sim)).toBe(4);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("waits Retry-After given as an HTTP-date", async () => {
      const retryAfter = new Date(clock.now() + 45_000).toUTCString();
      sim.script({ route: "GET /v2/evses/{id}", kind: "status", status: 429, retryAfter });
      const { client } = harness(sim, clock);
      expect((await client.getEvse(firstId())).status).toBe("found");
      expect(clock.sleeps).toEqual([45_000]);
    });

    it("throws RateLimited with retryAt instead of waiting past the deadline", async () => {
      sim.script({ route: "GET /v2/evses/{id}", kind: "status", status: 429, retryAfter: "120" });
      const { client } = harness(sim, clock);
      const now = clock.now();
      const error = await caught(() => client.getEvse(firstId(), { deadline: now + 60_000 }));
      expect(error).toBeInstanceOf(RateLimited);
      expect((error as RateLimited).retryAt).toBe(now + 120_000);
      expect(clock.sleeps).toEqual([]);
    });

    it.each([
      ["a 5xx", { kind: "status", status: 503 }],
      ["a connection reset", { kind: "reset" }],
      ["malformed JSON", { kind: "malformed-json" }],
    ] as const)("retries %s with backoff, then succeeds", async (_name, fault) => {
      sim.script({ route: "GET /v2/evses", ...fault });
      const { client } = harness(sim, clock);
      expect(ids(await listAll(client))).toHaveLength(250);
      expect(listRequests(sim)).toBe(4);
      expect(clock.sleeps).toHaveLength(1);
      expect(clock.sleeps[0]).toBeLessThanOrEqual(200);
    });

    it("retries a request that never gets an answer once its own timeout fires", async () => {
      sim.script({ route: "GET /v2/evses/{id}", kind: "timeout" });
      const { client, observed } = harness(sim, clock, { requestTimeoutMs: 1_000 });
      expect((await client.getEvse(firstId())).status).toBe("found");
      expect(observed.filter((r) => r.kind === "api").map((r) => r.status)).toEqual([
        "timeout",
        200,
      ]);
    });

    it("gives up with EvEnergyUnavailable carrying the last cause after maxAttempts", async () => {
      const fault = { route: "GET /v2/evses/{id}", kind: "status", status: 502 } as const;
      sim.script(fault, fault, fault, fault, fault);
      const { client } = harness(sim, clock);
      const error = await caught(() => client.getEvse(firstId()));
      expect(error).toBeInstanceOf(EvEnergyUnavailable);
      expect((error as EvEnergyUnavailable).attempts).toBe(4);
      expect((error as Error).cause).toMatchObject({ name: "EvEnergyProblem", status: 502 });
      expect(sim.stats().requests["GET /v2/evses/{id}"]).toBe(4);
      expect(clock.sleeps).toHaveLength(3);
    });

    it.each([400, 403, 409, 422])("never retries a %i", async (status) => {
      sim.script({
        route: "GET /v2/evses/{id}",
        kind: "status",
        status,
        body: { title: "Nope", status, detail: `scripted ${status}` },
      });
      const { client } = harness(sim, clock);
      const error = await caught(() => client.getEvse(firstId()));
      expect(error).toBeInstanceOf(EvEnergyProblem);
      expect(error).toMatchObject({ status, title: "Nope", detail: `scripted ${status}` });
      expect(sim.stats().requests["GET /v2/evses/{id}"]).toBe(1);
      expect(clock.sleeps).toEqual([]);
    });

    it("never retries a 404 on the list", async () => {
      sim.script({ route: "GET /v2/evses", kind: "status", status: 404 });
      const { client } = harness(sim, clock);
      expect(await caught(() => listAll(client))).toMatchObject({ status: 404 });
      expect(listRequests(sim)).toBe(1);
    });

    it("treats a DELETE 409 as final", async () => {
      sim.script({ route: "DELETE /v2/evses/{id}", kind: "status", status: 409 });
      const { client } = harness(sim, clock, { scope: "evse:write" });
      expect(await caught(() => client.deleteEvse(firstId()))).toMatchObject({ status: 409 });
      expect(sim.stats().requests["DELETE /v2/evses/{id}"]).toBe(1);
      expect(sim.stats().deleted).toEqual([]);
    });

    it("after a 401 renews the token once and retries", async () => {
      const { client } = harness(sim, clock);
      await client.getEvse(firstId());
      expect(tokenRequests(sim)).toBe(1);
      sim.script({ route: "GET /v2/evses", kind: "status", status: 401 });
      expect(ids(await listAll(client))).toHaveLength(250);
      expect(tokenRequests(sim)).toBe(2);
    });

    it("renews a token past its lifetime before using it, without a 401", async () => {
      const { client } = harness(sim, clock);
      await client.getEvse(firstId());
      sim.advance(10 * 3_600_000);
      await client.getEvse(firstId());
      expect(tokenRequests(sim)).toBe(2);
      expect(sim.requestLog().filter((entry) => entry.status === 401)).toEqual([]);
    });

    it("shares one token exchange between 100 concurrent callers", async () => {
      const { client } = harness(sim, clock);
      const results = await Promise.all(
        sim.fleet
          .list()
          .slice(0, 100)
          .map((device) => client.getEvse(device.id)),
      );
      expect(results.every((result) => result.status === "found")).toBe(true);
      expect(tokenRequests(sim)).toBe(1);
    });

    it("tells the observer of every request, token exchanges included", async () => {
      sim.script({ route: "GET /v2/evses", kind: "status", status: 500 });
      const { client, observed } = harness(sim, clock);
      await listAll(client);
      expect(observed.map((r) => `${r.kind} ${r.method} ${r.status}`)).toEqual([
        "token POST 200",
        "api GET 500",
        "api GET 200",
        "api GET 200",
        "api GET 200",
      ]);
      expect(observed).toHaveLength(sim.requestLog().length);
    });

    it("classifies a malformed body on the last attempt as the cause", async () => {
      const fault = { route: "GET /v2/evses", kind: "malformed-json" } as const;
      sim.script(fault, fault, fault, fault);
      const { client } = harness(sim, clock);
      const error = await caught(() => listAll(client));
      expect(error).toBeInstanceOf(EvEnergyUnavailable);
      expect((error as Error).cause).toBeInstanceOf(MalformedResponse);
    });
  });
});
