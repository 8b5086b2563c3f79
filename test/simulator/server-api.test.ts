import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../local/manual-clock.js";
import {
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../../local/simulator/index.js";

const START = Date.parse("2026-01-01T00:00:00.000Z");
const HEADERS = { Authorization: "Bearer sandbox-token", "EvEnergy-Version": "2" };

interface Item {
  id: string;
  url: string;
  cpid: string;
  model: string;
  user: string;
  latest_status_log: string | null | Record<string, unknown>;
  ct_clamp: null;
  lock_mode: string | null;
  location: { latitude: number; longitude: number } | null;
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  field_errors?: Record<string, string[]>;
}

const running: Simulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

async function start(options: SimulatorOptions = {}) {
  const clock = new ManualClock(START);
  const sim = await startSimulator({ clock, ...options });
  running.push(sim);
  return { sim, clock };
}

function links(response: Response): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of (response.headers.get("link") ?? "").matchAll(/<([^>]*)>;\s*rel="(\w+)"/g)) {
    found[match[2] as string] = match[1] as string;
  }
  return found;
}

async function walk(firstUrl: string, headers: Record<string, string> = HEADERS) {
  const ids: string[] = [];
  const responses: Response[] = [];
  let url: string | undefined = firstUrl;
  while (url !== undefined && url !== "about:blank") {
    const response = await fetch(url, { headers });
    expect(response.status).toBe(200);
    responses.push(response);
    const items = (await response.json()) as Item[];
    ids.push(...items.map((item) => item.id));
    url = links(response).next;
    expect(responses.length).toBeLessThan(1000);
  }
  return { ids, responses };
}

async function token(sim: Simulator, body: string, user = "sandbox-client:sandbox-secret") {
  return fetch(sim.tokenUrl, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(user).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body,
  });
}

describe("GET /v2/evses pagination", () => {
  it.each([0, 1, 100, 101])("walks a fleet of %i completely, in ascending order", async (size) => {
    const { sim } = await start({ fleetSize: size });
    const expected = sim.fleet.list().map((d) => d.id);
    const { ids, responses } = await walk(`${sim.apiBaseUrl}/evses?page_size=100`);
    expect(ids).toEqual(expected);
    expect([...ids].sort()).toEqual(ids);
    expect(responses).toHaveLength(Math.max(1, Math.ceil(size / 100)));
    const lastLinks = links(responses.at(-1) as Response);
    expect(lastLinks.next).toBe("about:blank");
    responses.forEach((response, i) => {
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(links(response).previous === undefined).toBe(i === 0);
    });
    if (size === 101) {
      const next = new URL(links(responses[0] as Response).next as string);
      expect(next.origin + next.pathname).toBe(`${sim.apiBaseUrl}/evses`);
      expect(next.searchParams.get("page_size")).toBe("100");
      expect(next.searchParams.get("page_after")).toBe(expected[99]);
    }
  });

  it("defaults to 25 per page and keeps expand and page_size in the links", async () => {
    const { sim } = await start({ fleetSize: 60 });
    const first = await fetch(`${sim.apiBaseUrl}/evses?expand=latest_status_log`, {
      headers: HEADERS,
    });
    expect((await first.json()) as Item[]).toHaveLength(25);
    const next = new URL(links(first).next as string);
    expect(next.searchParams.getAll("expand")).toEqual(["latest_status_log"]);
    expect(next.searchParams.get("page_size")).toBe("25");
    const { ids } = await walk(`${sim.apiBaseUrl}/evses?expand=user,latest_status_log`);
    expect(ids).toEqual(sim.fleet.list().map((d) => d.id));

    const second = await fetch(next, { headers: HEADERS });
    const secondItems = (await second.json()) as Item[];
    const previous = await fetch(links(second).previous as string, { headers: HEADERS });
    const previousItems = (await previous.json()) as Item[];
    expect(previousItems.map((i) => i.id)).toEqual(
      sim.fleet
        .list()
        .slice(0, 25)
        .map((d) => d.id),
    );
    expect(secondItems[0]?.id).toBe(sim.fleet.list()[25]?.id);
  });

  it("omits the end link when told to", async () => {
    const { sim } = await start({ fleetSize: 3, faults: { endOfList: "omit" } });
    const response = await fetch(`${sim.apiBaseUrl}/evses`, { headers: HEADERS });
    expect(response.headers.get("link")).toBeNull();
  });

  it.each(["0", "101", "abc", "2.5", "-1", ""])("rejects page_size=%s", async (value) => {
    const { sim } = await start({ fleetSize: 3 });
    const response = await fetch(`${sim.apiBaseUrl}/evses?page_size=${value}`, {
      headers: HEADERS,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await response.json()) as Problem;
    expect(problem.status).toBe(400);
    expect(problem.type.startsWith("https://api.ev.energy/v2/problems/")).toBe(true);
    expect(problem.field_errors?.page_size?.length).toBe(1);
    expect(problem.instance).toBe(`${sim.apiBaseUrl}/evses?page_size=${value}`);
  });

  it("rejects unknown expand values and bad cursors, and filters by cpid", async () => {
    const { sim } = await start({ fleetSize: 30 });
    const badExpand = await fetch(`${sim.apiBaseUrl}/evses?expand=owner`, { headers: HEADERS });
    expect(((await badExpand.json()) as Problem).field_errors?.expand).toBeDefined();
    const badCursor = await fetch(`${sim.apiBaseUrl}/evses?page_after=nope`, { headers: HEADERS });
    expect(((await badCursor.json()) as Problem).field_errors?.page_after).toBeDefined();
    const target = sim.fleet.list()[17];
    const filtered = await fetch(`${sim.apiBaseUrl}/evses?cpid=${target?.cpid}`, {
      headers: HEADERS,
    });
    expect(((await filtered.json()) as Item[]).map((i) => i.id)).toEqual([target?.id]);
  });

  it("serves invalid items in position and raw overrides", async () => {
    const { sim } = await start({ fleetSize: 10 });
    const ids = sim.fleet.list().map((d) => d.id);
    sim.fleet.addInvalidItem(ids[3] as string, { cpid: "NO-ID" });
    sim.fleet.update(ids[5] as string, { rawOverride: { cpid: 12345, lock_mode: undefined } });
    const items: Record<string, unknown>[] = [];
    let url: string | undefined = `${sim.apiBaseUrl}/evses?page_size=4`;
    while (url !== undefined && url !== "about:blank") {
      const response: Response = await fetch(url, { headers: HEADERS });
      items.push(...((await response.json()) as Record<string, unknown>[]));
      url = links(response).next;
    }
    expect(items.map((item) => item.id ?? item.cpid)).toEqual([
      ...ids.slice(0, 4),
      "NO-ID",
      ...ids.slice(4),
    ]);
    const overridden = items.find((item) => item.id === ids[5]);
    expect(overridden?.cpid).toBe(12345);
    expect(overridden).not.toHaveProperty("lock_mode");
  });
});

describe("item shapes", () => {
  it("renders references as URLs, expanding latest_status_log on request", async () => {
    const { sim } = await start({ fleetSize: 40 });
    const plain = (await (
      await fetch(`${sim.apiBaseUrl}/evses?page_size=40`, { headers: HEADERS })
    ).json()) as Item[];
    const expanded = (await (
      await fetch(`${sim.apiBaseUrl}/evses?page_size=40&expand=latest_status_log&expand=model`, {
        headers: HEADERS,
      })
    ).json()) as Item[];
    const devices = sim.fleet.list();
    plain.forEach((item, i) => {
      const device = devices[i];
      expect(item.id).toBe(device?.id);
      expect(item.url).toBe(`${sim.apiBaseUrl}/evses/${item.id}`);
      expect(item.model).toMatch(new RegExp(`^${sim.apiBaseUrl}/evse_models/emod[0-9A-Z]{26}$`));
      expect(item.user).toMatch(new RegExp(`^${sim.apiBaseUrl}/users/user[0-9A-Z]{26}$`));
      expect(item.ct_clamp).toBeNull();
      expect(item.lock_mode).toBe(device?.lockMode);
      expect(Object.keys(item).sort()).toEqual(
        [
          "id",
          "url",
          "cpid",
          "model",
          "user",
          "latest_status_log",
          "ct_clamp",
          "lock_mode",
          "location",
        ].sort(),
      );
      const status = device?.status;
      if (status === null || status === undefined) {
        expect(item.latest_status_log).toBeNull();
        expect(expanded[i]?.latest_status_log).toBeNull();
        return;
      }
      const sampledAt = new Date(status.sampledAt).toISOString();
      expect(item.latest_status_log).toBe(
        `${sim.apiBaseUrl}/evse/${item.id}/status_logs/${sampledAt}/`,
      );
      expect(expanded[i]?.latest_status_log).toEqual({
        url: item.latest_status_log,
        sampled_at: sampledAt,
        logged_at: new Date(status.loggedAt).toISOString(),
        evse: item.url,
        is_plugged_in: status.isPluggedIn,
        is_charging: status.isCharging,
        charge_rate_watts: status.chargeRateWatts,
        export_power_watts: status.exportPowerWatts,
        control_pilot_status: status.isCharging ? "C" : status.isPluggedIn ? "B" : "A",
        meter_reading_watt_hours: expect.any(Number),
      });
    });
    expect(plain.some((item) => item.location === null)).toBe(true);
    expect(plain.some((item) => item.location !== null)).toBe(true);
  });

  it("serves the same fleet for the same seed and a different one for another", async () => {
    const body = async (sim: Simulator) =>
      (
        await (
          await fetch(`${sim.apiBaseUrl}/evses?page_size=100&expand=latest_status_log`, {
            headers: HEADERS,
          })
        ).text()
      ).replaceAll(sim.origin, "ORIGIN");
    const a = await start({ seed: 9 });
    const b = await start({ seed: 9 });
    const c = await start({ seed: 10 });
    expect(await body(a.sim)).toBe(await body(b.sim));
    expect(await body(a.sim)).not.toBe(await body(c.sim));
  });
});

describe("GET and DELETE /v2/evses/{id}", () => {
  it("gets one device, honouring expand, and 404s an unknown id", async () => {
    const { sim } = await start({ fleetSize: 5 });
    const device = sim.fleet.list().find((d) => d.status !== null);
    const plain = await fetch(`${sim.apiBaseUrl}/evses/${device?.id}`, { headers: HEADERS });
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as Item).latest_status_log).toEqual(expect.any(String));
    const expanded = await fetch(`${sim.apiBaseUrl}/evses/${device?.id}?expand=latest_status_log`, {
      headers: HEADERS,
    });
    expect(((await expanded.json()) as Item).latest_status_log).toMatchObject({
      is_plugged_in: device?.status?.isPluggedIn,
    });
    const missing = await fetch(`${sim.apiBaseUrl}/evses/evse00000000000000000000000000`, {
      headers: HEADERS,
    });
    expect(missing.status).toBe(404);
    const problem = (await missing.json()) as Problem;
    expect(problem.type).toBe("https://api.ev.energy/v2/problems/not-found");
    expect(problem.instance).toBe(`${sim.apiBaseUrl}/evses/evse00000000000000000000000000`);
  });

  it("deletes once (204), then answers 404 and lists the fleet without it", async () => {
    const { sim } = await start({ fleetSize: 5 });
    const id = sim.fleet.list()[2]?.id as string;
    const first = await fetch(`${sim.apiBaseUrl}/evses/${id}`, {
      method: "DELETE",
      headers: HEADERS,
    });
    expect(first.status).toBe(204);
    expect(await first.text()).toBe("");
    const again = await fetch(`${sim.apiBaseUrl}/evses/${id}`, {
      method: "DELETE",
      headers: HEADERS,
    });
    expect(again.status).toBe(404);
    const get = await fetch(`${sim.apiBaseUrl}/evses/${id}`, { headers: HEADERS });
    expect(get.status).toBe(404);
    const { ids } = await walk(`${sim.apiBaseUrl}/evses`);
    expect(ids).toHaveLength(4);
    expect(ids).not.toContain(id);
    expect(sim.stats().deleted).toEqual([id]);
    expect(sim.fleet.changes().at(-1)).toMatchObject({ evseId: id, kind: "disappeared" });
  });

  it("answers 405 for other methods and 404 for other paths", async () => {
    const { sim } = await start({ fleetSize: 1 });
    const post = await fetch(`${sim.apiBaseUrl}/evses`, { method: "POST", headers: HEADERS });
    expect(post.status).toBe(405);
    const other = await fetch(`${sim.apiBaseUrl}/vehicles`, { headers: HEADERS });
    expect(other.status).toBe(404);
    expect(sim.stats().requests.other).toBe(2);
  });
});

describe("authentication", () => {
  it("answers 401 without a valid bearer token", async () => {
    const { sim } = await start({ fleetSize: 1 });
    for (const headers of [
      { "EvEnergy-Version": "2" } as Record<string, string>,
      { "EvEnergy-Version": "2", Authorization: "Bearer wrong" },
      { "EvEnergy-Version": "2", Authorization: "Basic c2FuZGJveDp4" },
    ]) {
      const response = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(((await response.json()) as Problem).status).toBe(401);
    }
  });

  it.each([undefined, "1", "3"])("answers 400 for EvEnergy-Version %s", async (version) => {
    const { sim } = await start({ fleetSize: 1 });
    const headers: Record<string, string> = { Authorization: "Bearer sandbox-token" };
    if (version !== undefined) headers["EvEnergy-Version"] = version;
    const response = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Problem).type).toMatch(/unsupported-version$/);
  });

  it("exchanges client credentials for a token that expires in simulated time", async () => {
    const { sim, clock } = await start({ fleetSize: 2, tokenTtlSeconds: 600 });
    const response = await token(sim, "grant_type=client_credentials");
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: "Bearer",
      expires_in: 600,
      scope: "evse:read evse:write",
    });
    const second = (await (await token(sim, "grant_type=client_credentials")).json()) as {
      access_token: string;
    };
    expect(second.access_token).not.toBe(body.access_token);
    const headers = { Authorization: `Bearer ${body.access_token}`, "EvEnergy-Version": "2" };
    expect((await fetch(`${sim.apiBaseUrl}/evses`, { headers })).status).toBe(200);
    clock.advance(599_999);
    expect((await fetch(`${sim.apiBaseUrl}/evses`, { headers })).status).toBe(200);
    clock.advance(1);
    expect((await fetch(`${sim.apiBaseUrl}/evses`, { headers })).status).toBe(401);
    expect(sim.requestLog().at(-2)?.bucket).toBe("sandbox-client");
  });

  it("rejects bad clients, grants and scopes", async () => {
    const { sim } = await start({ fleetSize: 1 });
    const badClient = await token(sim, "grant_type=client_credentials", "sandbox-client:nope");
    expect(badClient.status).toBe(401);
    expect(await badClient.json()).toMatchObject({ error: "invalid_client" });
    const badScope = await token(sim, "grant_type=client_credentials&scope=evse:read+admin");
    expect(badScope.status).toBe(400);
    expect(await badScope.json()).toMatchObject({ error: "invalid_scope" });
    const badGrant = await token(sim, "grant_type=password");
    expect(await badGrant.json()).toMatchObject({ error: "unsupported_grant_type" });
  });

  it("forbids DELETE to a read-only token, which can still read", async () => {
    const { sim } = await start({ fleetSize: 2 });
    const { access_token } = (await (
      await token(sim, "grant_type=client_credentials&scope=evse%3Aread")
    ).json()) as { access_token: string; scope: string };
    const headers = { Authorization: `Bearer ${access_token}`, "EvEnergy-Version": "2" };
    const id = sim.fleet.list()[0]?.id;
    const del = await fetch(`${sim.apiBaseUrl}/evses/${id}`, { method: "DELETE", headers });
    expect(del.status).toBe(403);
    expect(((await del.json()) as Problem).detail).toMatch(/evse:write/);
    expect((await fetch(`${sim.apiBaseUrl}/evses/${id}`, { headers })).status).toBe(200);
    expect(sim.fleet.get(id as string)).toBeDefined();
  });

  it("shows another account nothing", async () => {
    const { sim } = await start({
      fleetSize: 3,
      staticTokens: [{ token: "stranger", scopes: ["evse:write"], account: "empty" }],
    });
    const headers = { Authorization: "Bearer stranger", "EvEnergy-Version": "2" };
    const list = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
    expect(await list.json()).toEqual([]);
    expect(links(list).next).toBe("about:blank");
    const id = sim.fleet.list()[0]?.id;
    expect((await fetch(`${sim.apiBaseUrl}/evses/${id}`, { headers })).status).toBe(404);
    const del = await fetch(`${sim.apiBaseUrl}/evses/${id}`, { method: "DELETE", headers });
    expect(del.status).toBe(404);
    expect(sim.fleet.list()).toHaveLength(3);
  });
});

describe("rate limit", () => {
  it("allows the limit per rolling hour, then 429s with Retry-After until the window frees", async () => {
    const { sim, clock } = await start({ fleetSize: 1, rateLimit: 3 });
    const tokenResponse = await token(sim, "grant_type=client_credentials");
    expect(tokenResponse.headers.get("x-ratelimit-remaining")).toBe("2");
    const { access_token } = (await tokenResponse.json()) as { access_token: string };
    const headers = { Authorization: `Bearer ${access_token}`, "EvEnergy-Version": "2" };
    clock.advance(10_000);
    const first = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
    expect(first.headers.get("x-ratelimit-limit")).toBe("3");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
    clock.advance(10_000);
    const second = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
    expect(second.headers.get("x-ratelimit-remaining")).toBe("0");
    clock.advance(1500);
    for (let i = 0; i < 2; i++) {
      const limited = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
      expect(limited.status).toBe(429);
      // The token request at START leaves the window at START + 3600 s.
      expect(limited.headers.get("retry-after")).toBe(String(3600 - 21));
      expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
      const problem = (await limited.json()) as Problem;
      expect(problem.type).toBe("https://api.ev.energy/v2/problems/rate-limit-exceeded/");
    }
    // The static token is a bucket of its own.
    expect((await fetch(`${sim.apiBaseUrl}/evses`, { headers: HEADERS })).status).toBe(200);

    sim.advance(3_600_000 - 21_500);
    const recovered = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
    expect(recovered.status).toBe(200);
    expect(recovered.headers.get("x-ratelimit-remaining")).toBe("0");
    expect((await fetch(`${sim.apiBaseUrl}/evses`, { headers })).status).toBe(429);
    expect(sim.stats().rateLimited).toBe(3);
    expect(sim.stats().total).toBe(8);
  });
});

describe("dynamic fleet over HTTP", () => {
  it("journals changes that the listing shows, also when the clock moved by itself", async () => {
    const { sim, clock } = await start({ fleetSize: 400, dynamic: true });
    clock.advance(20 * 60_000);
    const { ids } = await walk(`${sim.apiBaseUrl}/evses?page_size=100`);
    const afterClockMoved = sim.fleet.changes().length;
    expect(afterClockMoved).toBeGreaterThan(0);
    expect(ids).toEqual(sim.fleet.list().map((d) => d.id));

    sim.advance(40 * 60_000);
    const changes = sim.fleet.changes();
    expect(changes.length).toBeGreaterThan(afterClockMoved);
    const items = new Map<string, Item>();
    let url: string | undefined = `${sim.apiBaseUrl}/evses?page_size=100&expand=latest_status_log`;
    while (url !== undefined && url !== "about:blank") {
      const response: Response = await fetch(url, { headers: HEADERS });
      for (const item of (await response.json()) as Item[]) items.set(item.id, item);
      url = links(response).next;
    }
    const last = new Map(changes.map((c) => [c.evseId, c]));
    for (const [id, change] of last) {
      const item = items.get(id);
      const log = item?.latest_status_log as Record<string, unknown> | null | undefined;
      switch (change.kind) {
        case "disappeared":
          expect(item).toBeUndefined();
          break;
        case "appeared":
          expect(item).toBeDefined();
          break;
        case "plugged-in":
          expect(log?.is_plugged_in).toBe(true);
          break;
        case "unplugged":
          expect(log?.is_plugged_in).toBe(false);
          break;
        case "charging-started":
          expect(log?.is_charging).toBe(true);
          break;
        case "charging-stopped":
          expect(log?.is_charging).toBe(false);
          break;
        case "lock-mode":
          expect(item?.lock_mode).toBe(sim.fleet.get(id)?.lockMode);
          break;
        default:
          expect(Date.parse(String(log?.sampled_at))).toBeLessThanOrEqual(clock.now());
      }
    }
  });
});
