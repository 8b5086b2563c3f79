import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../../local/manual-clock.js";
import { type Simulator, startSimulator } from "../../local/simulator/index.js";
import { EvEnergyDocument } from "./ev-energy-document.js";

/**
 * Every kind of answer the simulated ev.energy gives, held to ev.energy's published OpenAPI
 * document: the status is documented for the operation, the content type is one it lists, the
 * body matches its schema, and each documented header present matches its schema (headers the
 * project relies on must be present).
 */
const HEADERS = { Authorization: "Bearer sandbox-token", "EvEnergy-Version": "2" };
const RATE_HEADERS = ["EvEnergy-Version", "X-RateLimit-Limit", "X-RateLimit-Remaining"];

let document: EvEnergyDocument;
let sim: Simulator;
beforeAll(async () => {
  document = EvEnergyDocument.load();
  sim = await startSimulator({ clock: new ManualClock("2026-03-02T08:00:00Z"), fleetSize: 130 });
});
afterAll(() => sim.close());

/** A header value as OpenAPI's `simple` style carries it: numbers as numbers. */
function headerValue(raw: string, schema: Record<string, unknown> | undefined): unknown {
  const type = schema?.type;
  if ((type === "number" || type === "integer") && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

async function conforms(
  response: Response,
  operation: { method: string; path: string },
  required: string[] = [],
): Promise<{ body: unknown; problems: string[] }> {
  const problems: string[] = [];
  const where = `${operation.method} ${operation.path} ${response.status}`;
  const documented = document.response(operation.method, operation.path, response.status);
  const text = await response.text();
  const body = text === "" ? undefined : (JSON.parse(text) as unknown);
  if (documented === undefined) return { body, problems: [`${where}: status not documented`] };

  const contentType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  const content = documented.content ?? {};
  if (text === "") {
    if (Object.keys(content).length > 0) problems.push(`${where}: no body, the document has one`);
  } else if (content[contentType] === undefined) {
    problems.push(
      `${where}: content type ${contentType || "(none)"} is not one of ${Object.keys(content).join(", ") || "(no body)"}`,
    );
  } else {
    const schema = content[contentType]?.schema;
    if (schema !== undefined) {
      for (const problem of document.validate(schema, body).problems) {
        problems.push(`${where}: body ${problem}`);
      }
    }
  }

  const headers = Object.entries(documented.headers ?? {});
  for (const name of required) {
    if (!headers.some(([documentedName]) => documentedName.toLowerCase() === name.toLowerCase())) {
      problems.push(`${where}: header ${name} is not documented for this answer`);
    }
    if (!response.headers.has(name)) problems.push(`${where}: header ${name} is missing`);
  }
  for (const [name, declared] of headers) {
    const raw = response.headers.get(name);
    if (raw === null) continue;
    const schema = document.resolve(declared).schema;
    if (schema === undefined) continue;
    for (const problem of document.validate(schema, headerValue(raw, schema)).problems) {
      problems.push(`${where}: header ${name} ${problem}`);
    }
  }
  return { body, problems };
}

function linkTargets(response: Response): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of (response.headers.get("link") ?? "").matchAll(/<([^>]*)>;\s*rel="(\w+)"/g)) {
    found[match[2] as string] = match[1] as string;
  }
  return found;
}

const LIST = { method: "GET", path: "/evses" };
const ONE = { method: "GET", path: "/evses/{evse_id}" };
const DELETE = { method: "DELETE", path: "/evses/{evse_id}" };

describe("the simulated ev.energy against ev.energy's OpenAPI document", () => {
  it("uses a validator that refuses what the document refuses", () => {
    const problem = { $ref: "#/components/schemas/RFC9457ProblemDetail" };
    const relative = { title: "Bad Request", detail: "x", status: 400, instance: "/v2/evses" };
    expect(document.validate(problem, relative).problems).toEqual([
      '/instance must match format "uri"',
    ]);
    const evse = { $ref: "#/components/schemas/EVSE" };
    expect(document.validate(evse, { id: "evse1", url: "u" }).ok).toBe(false);
  });

  it("answers every page of a listing (plain and expanded) as documented, Link headers included", async () => {
    for (const query of ["page_size=100", "page_size=100&expand=latest_status_log", ""]) {
      let url: string | undefined = `${sim.apiBaseUrl}/evses${query ? `?${query}` : ""}`;
      let pages = 0;
      while (url !== undefined && url !== "about:blank") {
        const response: Response = await fetch(url, { headers: HEADERS });
        expect(response.status).toBe(200);
        const links = linkTargets(response);
        const { body, problems } = await conforms(response, LIST, [...RATE_HEADERS, "Link"]);
        expect(problems).toEqual([]);
        expect(Array.isArray(body)).toBe(true);
        for (const target of Object.values(links)) {
          expect(target === "about:blank" || URL.canParse(target)).toBe(true);
        }
        url = links.next;
        pages += 1;
      }
      expect(pages).toBeGreaterThan(1);
    }
  });

  it("answers one EVSE, plain and expanded, as documented", async () => {
    const id = sim.fleet.list()[3]?.id;
    for (const query of ["", "?expand=latest_status_log"]) {
      const response = await fetch(`${sim.apiBaseUrl}/evses/${id}${query}`, { headers: HEADERS });
      expect(response.status).toBe(200);
      expect((await conforms(response, ONE, RATE_HEADERS)).problems).toEqual([]);
    }
  });

  it("answers DELETE with a documented 204, then a documented 404", async () => {
    const id = sim.fleet.list()[5]?.id;
    const deleted = await fetch(`${sim.apiBaseUrl}/evses/${id}`, {
      method: "DELETE",
      headers: HEADERS,
    });
    expect(deleted.status).toBe(204);
    expect((await conforms(deleted, DELETE, RATE_HEADERS)).problems).toEqual([]);
    const again = await fetch(`${sim.apiBaseUrl}/evses/${id}`, {
      method: "DELETE",
      headers: HEADERS,
    });
    expect(again.status).toBe(404);
    expect((await conforms(again, DELETE, RATE_HEADERS)).problems).toEqual([]);
  });

  it("answers 400 problems (bad query, unsupported version) as documented, instance an absolute URI", async () => {
    const badQuery = await fetch(`${sim.apiBaseUrl}/evses?page_size=abc`, { headers: HEADERS });
    expect(badQuery.status).toBe(400);
    const listed = await conforms(badQuery, LIST, RATE_HEADERS);
    expect(listed.problems).toEqual([]);
    expect((listed.body as { instance: string }).instance).toBe(
      `${sim.apiBaseUrl}/evses?page_size=abc`,
    );
    const id = sim.fleet.list()[0]?.id;
    const badVersion = await fetch(`${sim.apiBaseUrl}/evses/${id}`, {
      headers: { ...HEADERS, "EvEnergy-Version": "3" },
    });
    expect(badVersion.status).toBe(400);
    expect((await conforms(badVersion, ONE, RATE_HEADERS)).problems).toEqual([]);
  });

  it("answers 401 (no token, a bad token) and 404 (unknown EVSE) as documented", async () => {
    for (const headers of [
      { "EvEnergy-Version": "2" },
      { ...HEADERS, Authorization: "Bearer x" },
    ]) {
      const unauthorized = await fetch(`${sim.apiBaseUrl}/evses`, { headers });
      expect(unauthorized.status).toBe(401);
      expect((await conforms(unauthorized, LIST, RATE_HEADERS)).problems).toEqual([]);
    }
    const missing = await fetch(`${sim.apiBaseUrl}/evses/evse00000000000000000000000000`, {
      headers: HEADERS,
    });
    expect(missing.status).toBe(404);
    expect((await conforms(missing, ONE, RATE_HEADERS)).problems).toEqual([]);
  });

  it("answers 429 with Retry-After and a problem as documented, on lists, reads and DELETE", async () => {
    const id = sim.fleet.list()[7]?.id;
    sim.setFaults({ rateLimitBurst: { count: 3, retryAfterSeconds: 42 } });
    onTestFinished(() => sim.setFaults({}));
    for (const [operation, url, method] of [
      [LIST, `${sim.apiBaseUrl}/evses`, "GET"],
      [ONE, `${sim.apiBaseUrl}/evses/${id}`, "GET"],
      [DELETE, `${sim.apiBaseUrl}/evses/${id}`, "DELETE"],
    ] as const) {
      const limited = await fetch(url, { method, headers: HEADERS });
      expect(limited.status).toBe(429);
      const { problems } = await conforms(limited, operation, [...RATE_HEADERS, "Retry-After"]);
      expect(problems).toEqual([]);
    }
  });

  it("issues tokens at the token URL the document declares, with its scopes, in RFC 6749's shape", async () => {
    const declared = document.clientCredentials();
    expect(new URL(sim.tokenUrl).pathname).toBe(new URL(declared.tokenUrl).pathname);
    const exchange = (credentials: string, scope: string) =>
      fetch(sim.tokenUrl, {
        method: "POST",
        headers: {
          Authorization: `Basic ${Buffer.from(credentials).toString("base64")}`,
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ grant_type: "client_credentials", scope }).toString(),
      });
    const granted = await exchange("sandbox-client:sandbox-secret", "evse:read evse:write");
    expect(granted.status).toBe(200);
    expect(granted.headers.get("cache-control")).toBe("no-store");
    const token = (await granted.json()) as Record<string, unknown>;
    // RFC 6749 §5.1: the document declares the flow but not the answer's body.
    const tokenSchema = {
      type: "object",
      required: ["access_token", "token_type"],
      properties: {
        access_token: { type: "string", minLength: 1 },
        token_type: { enum: ["Bearer"] },
        expires_in: { type: "integer", minimum: 1 },
        scope: { type: "string" },
      },
    };
    expect(document.validate(tokenSchema, token).problems).toEqual([]);
    for (const scope of String(token.scope).split(" ")) expect(declared.scopes).toContain(scope);

    const refused = await exchange("sandbox-client:wrong", "evse:read");
    expect(refused.status).toBe(401);
    const error = (await refused.json()) as Record<string, unknown>;
    const errorSchema = {
      type: "object",
      required: ["error"],
      properties: {
        error: {
          enum: [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
          ],
        },
        error_description: { type: "string" },
      },
    };
    expect(document.validate(errorSchema, error).problems).toEqual([]);
  });
});
