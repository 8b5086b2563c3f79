import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import type { Random } from "../../functions/ports.js";
import { type Fleet, type ListEntry, seedStream } from "./fleet.js";
import type {
  Faults,
  RequestLogEntry,
  RouteName,
  ScriptedFault,
  SimClient,
  SimClock,
  SimDevice,
  SimStaticToken,
  SimStats,
  Simulator,
} from "./types.js";
import type { WebhookFaults } from "./webhooks.js";

/** Everything the server needs, defaults already applied (see `index.ts`). */
export interface ServerOptions {
  port: number;
  seed: number;
  clock: SimClock;
  fleet: Fleet;
  clients: SimClient[];
  staticTokens: SimStaticToken[];
  rateLimit: number;
  tokenTtlSeconds: number;
  faults: Faults;
}

const PROBLEM_BASE = "https://api.ev.energy/v2/problems/";
const WINDOW_MS = 3_600_000;
const MAX_LOG_ENTRIES = 200_000;
const DEFAULT_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 100;
const CURSOR_PATTERN = /^[a-z]{4}[0-9A-Z]{26}$/;
const KNOWN_EXPANDS = new Set(["latest_status_log", "user", "model", "model.make", "ct_clamp"]);
const READ_SCOPES = ["evse:read", "evse:write"];
const TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ROUTES: readonly RouteName[] = [
  "GET /v2/evses",
  "GET /v2/evses/{id}",
  "DELETE /v2/evses/{id}",
  "POST /o/token/",
  "other",
];
const SCRIPT_KINDS = new Set([
  "status",
  "timeout",
  "reset",
  "malformed-json",
  "timeout-after-apply",
]);

interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

interface Principal {
  bucket: string;
  scopes: readonly string[];
  account: "main" | "empty";
}

interface IssuedToken extends Principal {
  expiresAt: number;
}

interface Identity {
  /** The rate-limit bucket, when the request names a known client or a valid token. */
  bucket?: string;
  /** Set for `/v2` requests with a valid bearer token. */
  principal?: Principal;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
  bucket: string | undefined;
  api: boolean;
}

/** The hour-long rolling window of one rate-limit bucket: request times, oldest first. */
class RollingWindow {
  #times: number[] = [];
  #head = 0;

  count(now: number): number {
    while (this.#head < this.#times.length && (this.#times[this.#head] ?? 0) <= now - WINDOW_MS) {
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    return this.#times.length - this.#head;
  }

  oldest(): number | undefined {
    return this.#times[this.#head];
  }

  add(now: number): void {
    this.#times.push(now);
  }
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(value),
  };
}

function problem(
  status: number,
  slug: string,
  title: string,
  detail: string,
  instance: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
    body: JSON.stringify({ type: PROBLEM_BASE + slug, title, status, detail, instance, ...extra }),
  };
}

const STATUS_PROBLEMS: Record<number, [slug: string, title: string]> = {
  400: ["bad-request", "Bad Request"],
  401: ["unauthorized", "Unauthorized"],
  403: ["forbidden", "Forbidden"],
  404: ["not-found", "Not Found"],
  409: ["conflict", "Conflict"],
  429: ["rate-limit-exceeded/", "Too Many Requests"],
  500: ["internal-server-error", "Internal Server Error"],
  502: ["bad-gateway", "Bad Gateway"],
  503: ["service-unavailable", "Service Unavailable"],
  504: ["gateway-timeout", "Gateway Timeout"],
};

function statusProblem(status: number, instance: string, detail?: string): Reply {
  const [slug, title] = STATUS_PROBLEMS[status] ?? [`http-${status}`, `HTTP ${status}`];
  return problem(status, slug, title, detail ?? `The simulator answered ${status}.`, instance);
}

function routeOf(method: string, path: string): RouteName {
  if (method === "POST" && (path === "/o/token/" || path === "/o/token")) return "POST /o/token/";
  if (method === "GET" && (path === "/v2/evses" || path === "/v2/evses/")) return "GET /v2/evses";
  if (/^\/v2\/evses\/[^/]+\/?$/.test(path)) {
    if (method === "GET") return "GET /v2/evses/{id}";
    if (method === "DELETE") return "DELETE /v2/evses/{id}";
  }
  return "other";
}

function iso(time: number): string {
  return new Date(time).toISOString();
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function rate(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new Error(`${name} must be a number in [0, 1]`);
  }
  return value;
}

const FAULT_KEYS = [
  "latencyMs",
  "serverErrorRate",
  "timeoutRate",
  "resetRate",
  "malformedJsonRate",
  "rateLimitBurst",
  "badNextLink",
  "endOfList",
] as const satisfies ReadonlyArray<keyof Faults>;

/** Refuses keys outside `known`, naming them: a misspelt fault must not pass as "no fault". */
function onlyKeys(value: Record<string, unknown>, known: readonly string[], what: string): void {
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new Error(
      `unknown ${what} ${unknown.map((key) => JSON.stringify(key)).join(", ")}: known ${what}s are ${known.join(", ")}`,
    );
  }
}

/** Checks a Faults object from `/_sim/faults` and copies it (the burst counter is mutable). */
function parseFaults(value: unknown): Faults {
  if (!isRecord(value)) throw new Error("faults must be an object");
  onlyKeys(value, FAULT_KEYS, "fault");
  const faults: Faults = {};
  if (value.latencyMs !== undefined) {
    if (typeof value.latencyMs !== "number" || !(value.latencyMs >= 0)) {
      throw new Error("latencyMs must be a number >= 0");
    }
    faults.latencyMs = value.latencyMs;
  }
  const rates = ["serverErrorRate", "timeoutRate", "resetRate", "malformedJsonRate"] as const;
  for (const key of rates) {
    const parsed = rate(value[key], key);
    if (parsed !== undefined) faults[key] = parsed;
  }
  const burst = value.rateLimitBurst;
  if (burst !== undefined) {
    if (isRecord(burst)) onlyKeys(burst, ["count", "retryAfterSeconds"], "rateLimitBurst field");
    if (
      !isRecord(burst) ||
      typeof burst.count !== "number" ||
      typeof burst.retryAfterSeconds !== "number"
    ) {
      throw new Error("rateLimitBurst must be {count, retryAfterSeconds}");
    }
    faults.rateLimitBurst = { count: burst.count, retryAfterSeconds: burst.retryAfterSeconds };
  }
  if (value.badNextLink !== undefined) {
    if (value.badNextLink !== "repeat-cursor" && value.badNextLink !== "foreign-collection") {
      throw new Error('badNextLink must be "repeat-cursor" or "foreign-collection"');
    }
    faults.badNextLink = value.badNextLink;
  }
  if (value.endOfList !== undefined) {
    if (value.endOfList !== "about-blank" && value.endOfList !== "omit") {
      throw new Error('endOfList must be "about-blank" or "omit"');
    }
    faults.endOfList = value.endOfList;
  }
  return faults;
}

/** Checks a WebhookFaults object from `/_sim/webhook-faults`. */
function parseWebhookFaults(value: unknown): WebhookFaults {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("Webhook faults must be a JSON object.");
  }
  const faults: WebhookFaults = {};
  for (const [key, raw] of Object.entries(value)) {
    if (key === "retryRate" || key === "duplicateRate") {
      if (typeof raw !== "number" || raw < 0 || raw > 1) {
        throw new Error(`${key} must be a number from 0 to 1.`);
      }
      faults[key] = raw;
    } else if (key === "reorder") {
      if (typeof raw !== "boolean") throw new Error("reorder must be true or false.");
      faults.reorder = raw;
    } else {
      throw new Error(`Unknown webhook fault ${key}: retryRate, duplicateRate, reorder.`);
    }
  }
  return faults;
}

/** Checks one scripted fault from `/_sim/script`. */
function parseScriptedFault(value: unknown): ScriptedFault {
  if (!isRecord(value) || typeof value.kind !== "string" || !SCRIPT_KINDS.has(value.kind)) {
    throw new Error(`each scripted fault needs a kind among ${[...SCRIPT_KINDS].join(", ")}`);
  }
  if (value.route !== undefined && !ROUTES.includes(value.route as RouteName)) {
    throw new Error(`route must be one of ${ROUTES.join(", ")}`);
  }
  if (value.kind === "status") {
    if (typeof value.status !== "number" || value.status < 100 || value.status > 599) {
      throw new Error("a status fault needs a status between 100 and 599");
    }
    if (value.retryAfter !== undefined && typeof value.retryAfter !== "string") {
      throw new Error("retryAfter must be a string");
    }
  }
  return { ...value } as ScriptedFault;
}

/** The simulated ev.energy's HTTP server and its control surface. */
export class SimulatorServer implements Simulator {
  #webhooks: { setFaults(faults: WebhookFaults): void } | undefined;
  readonly clock: SimClock;
  readonly fleet: Fleet;
  readonly #options: ServerOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #origin = "";
  #faults: Faults = {};
  #script: ScriptedFault[] = [];
  #stats: SimStats = { requests: {}, total: 0, rateLimited: 0, deleted: [] };
  #log: RequestLogEntry[] = [];
  #buckets = new Map<string, RollingWindow>();
  #tokens = new Map<string, IssuedToken>();
  #tokenCounter = 0;
  #tokenRandom: Random;
  #faultRandom: Random;
  #closed: Promise<void> | undefined;

  private constructor(options: ServerOptions) {
    this.#options = options;
    this.clock = options.clock;
    this.fleet = options.fleet;
    this.#faults = parseFaults(options.faults);
    this.#tokenRandom = seedStream(options.seed, 10);
    this.#faultRandom = seedStream(options.seed, 11);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent && !res.destroyed) {
          const reply = statusProblem(
            500,
            this.#origin + (req.url ?? "/"),
            "The simulator failed.",
          );
          res.writeHead(reply.status, reply.headers).end(reply.body);
        }
      });
    });
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
  }

  static async start(options: ServerOptions): Promise<SimulatorServer> {
    const simulator = new SimulatorServer(options);
    await new Promise<void>((resolve, reject) => {
      simulator.#server.once("error", reject);
      simulator.#server.listen(options.port, "127.0.0.1", () => {
        simulator.#server.off("error", reject);
        resolve();
      });
    });
    const address = simulator.#server.address() as AddressInfo;
    simulator.#origin = `http://127.0.0.1:${address.port}`;
    return simulator;
  }

  get origin(): string {
    return this.#origin;
  }

  get apiBaseUrl(): string {
    return `${this.#origin}/v2`;
  }

  get tokenUrl(): string {
    return `${this.#origin}/o/token/`;
  }

  stats(): SimStats {
    return {
      requests: { ...this.#stats.requests },
      total: this.#stats.total,
      rateLimited: this.#stats.rateLimited,
      deleted: [...this.#stats.deleted],
    };
  }

  requestLog(): readonly RequestLogEntry[] {
    return this.#log.length > MAX_LOG_ENTRIES ? this.#log.slice(-MAX_LOG_ENTRIES) : this.#log;
  }

  setFaults(faults: Faults): void {
    this.#faults = parseFaults(faults);
  }

  script(...faults: ScriptedFault[]): void {
    this.#script.push(...faults.map((fault) => ({ ...fault })));
  }

  advance(ms: number): void {
    this.clock.advance(ms);
    this.fleet.evolveTo(this.clock.now());
  }

  /** Lets `POST /_sim/webhook-faults` switch the webhook sender's faults. */
  attachWebhooks(sender: { setFaults(faults: WebhookFaults): void }): void {
    this.#webhooks = sender;
  }

  reset(): void {
    this.fleet.reset();
    this.#faults = {};
    this.#script = [];
    this.#stats = { requests: {}, total: 0, rateLimited: 0, deleted: [] };
    this.#log = [];
    this.#buckets.clear();
    this.#tokens.clear();
    this.#tokenCounter = 0;
    this.#tokenRandom = seedStream(this.#options.seed, 10);
    this.#faultRandom = seedStream(this.#options.seed, 11);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      // Held (timed-out) requests and idle keep-alive sockets would keep close() waiting.
      for (const socket of this.#sockets) socket.destroy();
    });
    return this.#closed;
  }

  // ---- request pipeline -------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = this.clock.now();
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = await readBody(req);
    if (url.pathname === "/_sim" || url.pathname.startsWith("/_sim/")) {
      this.#control(req, res, url, body);
      return;
    }
    const method = req.method ?? "GET";
    const route = routeOf(method, url.pathname);
    const latency = this.#faults.latencyMs ?? 0;
    if (latency > 0) await delay(latency);
    // The fleet catches up to `now` itself whenever it is read.
    const now = this.clock.now();
    this.#stats.total++;
    this.#stats.requests[route] = (this.#stats.requests[route] ?? 0) + 1;

    const identity = this.#identify(req, route, url.pathname, now);
    const entry: RequestLogEntry = { at: arrivedAt, method, route, status: 0 };
    if (identity.bucket !== undefined) entry.bucket = identity.bucket;
    const exchange: Exchange = {
      req,
      res,
      entry,
      bucket: identity.bucket,
      api: url.pathname.startsWith("/v2/") || route === "POST /o/token/",
    };
    // RFC 9457 and ev.energy's document: an absolute URI.
    const instance = this.#origin + url.pathname + url.search;

    let mode: "normal" | "malformed" | "hold" = "normal";
    const scripted = this.#takeScripted(route);
    if (scripted !== undefined) {
      switch (scripted.kind) {
        case "status": {
          if (scripted.status === 429) this.#stats.rateLimited++;
          else this.#count(identity.bucket, now);
          const reply =
            scripted.body === undefined
              ? statusProblem(scripted.status, instance)
              : json(scripted.status, scripted.body);
          if (scripted.status >= 400 && scripted.body !== undefined) {
            reply.headers["Content-Type"] = "application/problem+json";
          }
          if (scripted.retryAfter !== undefined) reply.headers["Retry-After"] = scripted.retryAfter;
          this.#finish(exchange, reply, "normal", now);
          return;
        }
        case "timeout":
          this.#count(identity.bucket, now);
          this.#hold(exchange);
          return;
        case "reset":
          this.#count(identity.bucket, now);
          this.#reset(exchange);
          return;
        case "malformed-json":
          mode = "malformed";
          break;
        case "timeout-after-apply":
          mode = "hold";
          break;
      }
    } else {
      const limited = this.#limit(identity.bucket, now, instance);
      if (limited !== undefined) {
        this.#stats.rateLimited++;
        this.#finish(exchange, limited, "normal", now);
        return;
      }
    }
    this.#count(identity.bucket, now);

    if (scripted === undefined) {
      const fault = this.#drawFault(route);
      if (fault === "reset") {
        this.#reset(exchange);
        return;
      }
      if (fault === "timeout") {
        this.#hold(exchange);
        return;
      }
      if (typeof fault === "number") {
        this.#finish(exchange, statusProblem(fault, instance), "normal", now);
        return;
      }
      if (fault === "malformed") mode = "malformed";
    }

    const reply = this.#route(route, req, url, body, identity, now);
    this.#finish(exchange, reply, mode, now);
  }

  #identify(req: IncomingMessage, route: RouteName, path: string, now: number): Identity {
    const authorization = req.headers.authorization ?? "";
    if (route === "POST /o/token/") {
      const clientId = this.#basicCredentials(authorization)?.[0];
      const known = this.#options.clients.some((client) => client.clientId === clientId);
      return known && clientId !== undefined ? { bucket: clientId } : {};
    }
    if (!path.startsWith("/v2/")) return {};
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return {};
    const token = match[1] ?? "";
    const fixed = this.#options.staticTokens.find((candidate) => candidate.token === token);
    if (fixed !== undefined) {
      const principal = {
        bucket: fixed.token,
        scopes: fixed.scopes,
        account: fixed.account ?? "main",
      };
      return { bucket: principal.bucket, principal };
    }
    const issued = this.#tokens.get(token);
    if (issued === undefined || now >= issued.expiresAt) return {};
    return { bucket: issued.bucket, principal: issued };
  }

  /** HTTP Basic client authentication: id and secret form-encoded first (RFC 6749 §2.3.1). */
  #basicCredentials(authorization: string): [string, string] | undefined {
    const match = /^Basic\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return undefined;
    const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    try {
      const formDecode = (part: string) => decodeURIComponent(part.replaceAll("+", " "));
      return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))];
    } catch {
      return undefined;
    }
  }

  #takeScripted(route: RouteName): ScriptedFault | undefined {
    const index = this.#script.findIndex(
      (fault) => fault.route === undefined || fault.route === route,
    );
    if (index < 0) return undefined;
    return this.#script.splice(index, 1)[0];
  }

  /** A 429 from the burst fault or the rolling-hour limit, or undefined to go on. */
  #limit(bucket: string | undefined, now: number, instance: string): Reply | undefined {
    const burst = this.#faults.rateLimitBurst;
    if (burst !== undefined && burst.count > 0) {
      burst.count--;
      if (burst.count <= 0) delete this.#faults.rateLimitBurst;
      return this.#tooMany(burst.retryAfterSeconds, instance);
    }
    if (bucket === undefined) return undefined;
    const window = this.#window(bucket);
    if (window.count(now) < this.#options.rateLimit) return undefined;
    const oldest = window.oldest() ?? now;
    const seconds = Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
    return this.#tooMany(seconds, instance);
  }

  #tooMany(seconds: number, instance: string): Reply {
    return problem(
      429,
      // The slug of the document's own example.
      "rate-limit-exceeded/",
      "Too Many Requests",
      `Request was rate limited. Try again in ${seconds} seconds.`,
      instance,
      {},
      { "Retry-After": String(seconds), "X-RateLimit-Remaining": "0" },
    );
  }

  #window(bucket: string): RollingWindow {
    let window = this.#buckets.get(bucket);
    if (window === undefined) {
      window = new RollingWindow();
      this.#buckets.set(bucket, window);
    }
    return window;
  }

  #count(bucket: string | undefined, now: number): void {
    if (bucket !== undefined) this.#window(bucket).add(now);
  }

  #drawFault(route: RouteName): "reset" | "timeout" | "malformed" | number | undefined {
    const faults = this.#faults;
    const reset = faults.resetRate ?? 0;
    const timeout = faults.timeoutRate ?? 0;
    const serverError = faults.serverErrorRate ?? 0;
    const malformed = faults.malformedJsonRate ?? 0;
    if (reset + timeout + serverError + malformed <= 0) return undefined;
    const roll = this.#faultRandom();
    let edge = reset;
    if (roll < edge) return "reset";
    edge += timeout;
    if (roll < edge) return "timeout";
    edge += serverError;
    if (roll < edge) return [500, 502, 503][Math.floor(this.#faultRandom() * 3)] ?? 500;
    edge += malformed;
    if (roll < edge && (route === "GET /v2/evses" || route === "GET /v2/evses/{id}")) {
      return "malformed";
    }
    return undefined;
  }

  #finish(
    exchange: Exchange,
    reply: Reply,
    mode: "normal" | "malformed" | "hold",
    now: number,
  ): void {
    const { res, entry } = exchange;
    if (mode === "hold") {
      this.#hold(exchange);
      return;
    }
    const headers: Record<string, string> = {};
    if (exchange.api) {
      const limit = this.#options.rateLimit;
      const used = exchange.bucket === undefined ? 0 : this.#window(exchange.bucket).count(now);
      headers["X-RateLimit-Limit"] = String(limit);
      headers["X-RateLimit-Remaining"] = String(Math.max(0, limit - used));
      if (exchange.req.url?.startsWith("/v2/")) headers["EvEnergy-Version"] = "2";
    }
    Object.assign(headers, reply.headers);
    let body = reply.body;
    if (mode === "malformed" && reply.status === 200 && body !== undefined) {
      body = body.slice(0, Math.max(1, Math.floor(body.length / 2)));
    }
    if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
    entry.status = reply.status;
    this.#logEntry(entry);
    if (res.destroyed) return;
    res.writeHead(reply.status, headers);
    res.end(body);
  }

  #hold(exchange: Exchange): void {
    exchange.entry.status = "timeout";
    this.#logEntry(exchange.entry);
    // Never answered: the socket stays open until the client gives up or close() runs.
  }

  #reset(exchange: Exchange): void {
    exchange.entry.status = "reset";
    this.#logEntry(exchange.entry);
    exchange.req.socket.destroy();
  }

  #logEntry(entry: RequestLogEntry): void {
    this.#log.push(entry);
    if (this.#log.length > MAX_LOG_ENTRIES + 10_000) {
      this.#log.splice(0, this.#log.length - MAX_LOG_ENTRIES);
    }
  }

  // ---- routes ---------------------------------------------------------------------------------

  #route(
    route: RouteName,
    req: IncomingMessage,
    url: URL,
    body: string,
    identity: Identity,
    now: number,
  ): Reply {
    // RFC 9457 and ev.energy's document: an absolute URI.
    const instance = this.#origin + url.pathname + url.search;
    if (route === "POST /o/token/") return this.#token(req, body, now);
    if (!url.pathname.startsWith("/v2/")) {
      return problem(404, "not-found", "Not Found", `Nothing at ${url.pathname}.`, instance);
    }
    const principal = identity.principal;
    if (principal === undefined) {
      const presented = /^Bearer\s/i.test(req.headers.authorization ?? "");
      return problem(
        401,
        "unauthorized",
        "Unauthorized",
        presented
          ? "The access token is invalid or has expired."
          : "Authentication credentials were not provided.",
        instance,
        {},
        { "WWW-Authenticate": presented ? 'Bearer error="invalid_token"' : "Bearer" },
      );
    }
    const version = req.headers["evenergy-version"];
    if (version !== "2") {
      return problem(
        400,
        "unsupported-version",
        "Unsupported version",
        version === undefined
          ? "The EvEnergy-Version header is required; this API serves version 2."
          : `Unsupported version requested: ${String(version)}`,
        instance,
      );
    }
    const canRead = principal.scopes.some((scope) => READ_SCOPES.includes(scope));
    const canWrite = principal.scopes.includes("evse:write");
    if (route === "other") {
      if (/^\/v2\/evses(\/[^/]+)?\/?$/.test(url.pathname)) {
        const allow = /^\/v2\/evses\/?$/.test(url.pathname) ? "GET" : "GET, DELETE";
        return problem(
          405,
          "method-not-allowed",
          "Method Not Allowed",
          `${req.method ?? "?"} is not allowed here.`,
          instance,
          {},
          { Allow: allow },
        );
      }
      return problem(404, "not-found", "Not Found", `Nothing at ${url.pathname}.`, instance);
    }
    if (route === "DELETE /v2/evses/{id}" ? !canWrite : !canRead) {
      const needed = route === "DELETE /v2/evses/{id}" ? "evse:write" : "evse:read";
      return problem(
        403,
        "forbidden",
        "Forbidden",
        `This action needs the ${needed} scope.`,
        instance,
      );
    }
    if (route === "GET /v2/evses") return this.#list(url, principal, instance);
    const id = decodeURIComponent(url.pathname.replace(/^\/v2\/evses\//, "").replace(/\/$/, ""));
    const device = principal.account === "main" ? this.fleet.get(id) : undefined;
    if (device === undefined) {
      return problem(404, "not-found", "Not Found", `No EVSE with id ${id}.`, instance);
    }
    if (route === "DELETE /v2/evses/{id}") {
      this.fleet.remove(id);
      this.#stats.deleted.push(id);
      return { status: 204, headers: {} };
    }
    const expands = this.#expands(url);
    if (!Array.isArray(expands)) return this.#invalidQuery(expands, instance);
    return json(200, this.#render(device, expands.includes("latest_status_log")));
  }

  /** The expand values, or field errors when one is unknown. */
  #expands(url: URL): string[] | Record<string, string[]> {
    const values = url.searchParams
      .getAll("expand")
      .flatMap((value) => value.split(","))
      .map((value) => value.trim())
      .filter((value) => value !== "");
    const unknown = values.filter((value) => !KNOWN_EXPANDS.has(value));
    if (unknown.length > 0) {
      return { expand: unknown.map((value) => `Unknown expand value: ${value}.`) };
    }
    return values;
  }

  #invalidQuery(fieldErrors: Record<string, string[]>, instance: string): Reply {
    return problem(
      400,
      "invalid-parameters",
      "Invalid query parameters",
      `Error on fields: ${Object.keys(fieldErrors).join(", ")}`,
      instance,
      { field_errors: fieldErrors },
    );
  }

  #list(url: URL, principal: Principal, instance: string): Reply {
    const params = url.searchParams;
    const fieldErrors: Record<string, string[]> = {};
    let pageSize = DEFAULT_PAGE_SIZE;
    const rawSize = params.get("page_size");
    if (rawSize !== null) {
      const parsed = /^\d+$/.test(rawSize) ? Number(rawSize) : Number.NaN;
      if (!(parsed >= 1 && parsed <= MAX_PAGE_SIZE)) {
        fieldErrors.page_size = [`Must be an integer from 1 to ${MAX_PAGE_SIZE}.`];
      } else {
        pageSize = parsed;
      }
    }
    const after = params.get("page_after") ?? undefined;
    const before = params.get("page_before") ?? undefined;
    for (const [name, value] of [
      ["page_after", after],
      ["page_before", before],
    ] as const) {
      if (value !== undefined && !CURSOR_PATTERN.test(value)) {
        fieldErrors[name] = ["Must be a resource id."];
      }
    }
    if (after !== undefined && before !== undefined) {
      fieldErrors.page_before = ["page_after and page_before cannot be combined."];
    }
    const expands = this.#expands(url);
    if (!Array.isArray(expands)) Object.assign(fieldErrors, expands);
    if (Object.keys(fieldErrors).length > 0) return this.#invalidQuery(fieldErrors, instance);
    const cpid = params.get("cpid") || undefined;

    const page =
      principal.account !== "main"
        ? { entries: [], firstId: undefined, lastId: undefined, hasBefore: false, hasAfter: false }
        : before !== undefined
          ? this.fleet.pageBefore(before, pageSize, cpid)
          : this.fleet.pageAfter(after, pageSize, cpid);
    const expandStatus = Array.isArray(expands) && expands.includes("latest_status_log");
    const items = page.entries.map((entry: ListEntry) =>
      entry.kind === "device" ? this.#render(entry.device, expandStatus) : entry.item,
    );

    const linkTo = (cursor: "page_after" | "page_before", id: string, path = "/v2/evses") => {
      const query = new URLSearchParams();
      query.set("page_size", String(pageSize));
      for (const expand of params.getAll("expand")) query.append("expand", expand);
      if (cpid !== undefined) query.set("cpid", cpid);
      query.set(cursor, id);
      return `${this.#origin}${path}?${query.toString()}`;
    };
    const links: string[] = [];
    if (page.hasAfter && page.lastId !== undefined) {
      let next = linkTo("page_after", page.lastId);
      const bad = this.#faults.badNextLink;
      if (bad === "foreign-collection") {
        next = linkTo("page_after", page.lastId, "/v2/users");
        delete this.#faults.badNextLink;
      } else if (bad === "repeat-cursor" && after !== undefined) {
        // Points back at the page just served: a cursor the client has already followed.
        next = linkTo("page_after", after);
        delete this.#faults.badNextLink;
      }
      links.push(`<${next}>; rel="next"`);
    } else if (this.#faults.endOfList !== "omit") {
      links.push('<about:blank>; rel="next"');
    }
    if (page.hasBefore && page.firstId !== undefined) {
      links.push(`<${linkTo("page_before", page.firstId)}>; rel="previous"`);
    }
    const headers: Record<string, string> = {};
    if (links.length > 0) headers.Link = links.join(", ");
    return json(200, items, headers);
  }

  #render(device: SimDevice, expandStatus: boolean): Record<string, unknown> {
    const origin = this.#origin;
    const extras = this.fleet.extras(device.id);
    const evseUrl = `${origin}/v2/evses/${device.id}`;
    const status = device.status;
    let latest: unknown = null;
    if (status !== null) {
      const logUrl = `${origin}/v2/evse/${device.id}/status_logs/${iso(status.sampledAt)}/`;
      latest = expandStatus
        ? {
            url: logUrl,
            sampled_at: iso(status.sampledAt),
            logged_at: iso(status.loggedAt),
            evse: evseUrl,
            is_plugged_in: status.isPluggedIn,
            is_charging: status.isCharging,
            charge_rate_watts: status.chargeRateWatts,
            export_power_watts: status.exportPowerWatts,
            control_pilot_status:
              status.isPluggedIn === null
                ? null
                : !status.isPluggedIn
                  ? "A"
                  : status.isCharging === true
                    ? "C"
                    : "B",
            meter_reading_watt_hours: this.fleet.meterReading(device),
          }
        : logUrl;
    }
    const item: Record<string, unknown> = {
      id: device.id,
      url: evseUrl,
      cpid: device.cpid,
      model: extras === undefined ? null : `${origin}/v2/evse_models/${extras.modelId}`,
      user: extras === undefined ? null : `${origin}/v2/users/${extras.userId}`,
      latest_status_log: latest,
      ct_clamp: null,
      lock_mode: device.lockMode,
      location: extras?.location ?? null,
    };
    if (device.rawOverride !== undefined) {
      for (const [key, value] of Object.entries(device.rawOverride)) {
        if (value === undefined) delete item[key];
        else item[key] = value;
      }
    }
    return item;
  }

  #token(req: IncomingMessage, body: string, now: number): Reply {
    const oauthError = (status: number, error: string, description: string) =>
      json(
        status,
        { error, error_description: description },
        {
          "Cache-Control": "no-store",
          ...(status === 401 ? { "WWW-Authenticate": 'Basic realm="ev.energy"' } : {}),
        },
      );
    const contentType = req.headers["content-type"] ?? "";
    if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      return oauthError(400, "invalid_request", "Send an application/x-www-form-urlencoded body.");
    }
    const form = new URLSearchParams(body);
    const credentials =
      this.#basicCredentials(req.headers.authorization ?? "") ??
      (form.has("client_id")
        ? [form.get("client_id") ?? "", form.get("client_secret") ?? ""]
        : undefined);
    const client = this.#options.clients.find(
      (candidate) =>
        credentials !== undefined &&
        candidate.clientId === credentials[0] &&
        candidate.clientSecret === credentials[1],
    );
    if (client === undefined) {
      return oauthError(401, "invalid_client", "Client authentication failed.");
    }
    const grantType = form.get("grant_type");
    if (grantType === null) return oauthError(400, "invalid_request", "grant_type is required.");
    if (grantType !== "client_credentials") {
      return oauthError(400, "unsupported_grant_type", "Only client_credentials is supported.");
    }
    const requested = [...new Set((form.get("scope") ?? "").split(" ").filter((s) => s !== ""))];
    if (requested.some((scope) => !client.scopes.includes(scope))) {
      return oauthError(400, "invalid_scope", "The requested scope exceeds the client's scopes.");
    }
    const scopes = requested.length > 0 ? requested : [...client.scopes];
    const ttl = this.#options.tokenTtlSeconds;
    this.#tokenCounter++;
    let secret = "";
    for (let i = 0; i < 32; i++) {
      secret += TOKEN_ALPHABET[Math.floor(this.#tokenRandom() * TOKEN_ALPHABET.length)];
    }
    const accessToken = `sim_${this.#tokenCounter.toString(36)}_${secret}`;
    if (this.#tokens.size > 10_000) {
      for (const [token, issued] of this.#tokens) {
        if (issued.expiresAt <= now) this.#tokens.delete(token);
      }
    }
    this.#tokens.set(accessToken, {
      bucket: client.clientId,
      scopes,
      account: client.account ?? "main",
      expiresAt: now + ttl * 1000,
    });
    return json(
      200,
      { access_token: accessToken, token_type: "Bearer", expires_in: ttl, scope: scopes.join(" ") },
      { "Cache-Control": "no-store", Pragma: "no-cache" },
    );
  }

  // ---- /_sim control surface ------------------------------------------------------------------

  /** `/_sim/…`: JSON answers; a wrong call gets a problem+json naming what is wrong. */
  #control(req: IncomingMessage, res: ServerResponse, url: URL, body: string): void {
    const method = req.method ?? "GET";
    const instance = this.#origin + url.pathname + url.search;
    let reply: Reply;
    try {
      const value = this.#controlAnswer(method, url, body);
      reply =
        value === undefined
          ? problem(
              404,
              "not-found",
              "Not Found",
              `No control endpoint ${method} ${url.pathname}; see local/simulator/server.ts.`,
              instance,
            )
          : json(200, value);
    } catch (error) {
      const detail =
        error instanceof SyntaxError
          ? "The body is not valid JSON."
          : error instanceof Error
            ? error.message
            : "Bad request.";
      reply = problem(400, "bad-request", "Bad Request", detail, instance);
    }
    const text = reply.body ?? "";
    res
      .writeHead(reply.status, {
        ...reply.headers,
        "Content-Length": String(Buffer.byteLength(text)),
      })
      .end(text);
  }

  /** The JSON answer of a control endpoint, undefined when there is none; throws on bad input. */
  #controlAnswer(method: string, url: URL, body: string): unknown {
    const path = url.pathname.replace(/\/$/, "");
    const parse = (): unknown => (body.trim() === "" ? {} : JSON.parse(body));
    const endpoint = `${method} ${path}`;
    switch (endpoint) {
      case "GET /_sim/stats":
        return this.stats();
      case "GET /_sim/requests":
        return this.requestLog();
      case "GET /_sim/fleet":
        return { now: this.clock.now(), ...this.fleet.summary() };
      case "GET /_sim/changes": {
        const since = Number(url.searchParams.get("since") ?? "0") || 0;
        return this.fleet.changes().slice(since);
      }
      case "POST /_sim/faults":
        this.#faults = parseFaults(parse());
        return this.#faults;
      case "POST /_sim/webhook-faults": {
        if (!this.#webhooks) return undefined;
        const faults = parseWebhookFaults(parse());
        this.#webhooks.setFaults(faults);
        return faults;
      }
      case "POST /_sim/script": {
        const faults = parse();
        if (!Array.isArray(faults)) throw new Error("the script must be an array");
        this.script(...faults.map(parseScriptedFault));
        return { queued: this.#script.length };
      }
      case "POST /_sim/advance": {
        const request = parse();
        const ms = !isRecord(request)
          ? Number.NaN
          : typeof request.ms === "number"
            ? request.ms
            : typeof request.seconds === "number"
              ? request.seconds * 1000
              : Number.NaN;
        if (!(ms >= 0)) throw new Error('send {"ms": n} or {"seconds": n} with n >= 0');
        this.advance(ms);
        return { now: this.clock.now() };
      }
      case "POST /_sim/reset":
        this.reset();
        return { now: this.clock.now() };
      case "POST /_sim/silence": {
        const request = parse();
        const fraction = isRecord(request) ? request.fraction : undefined;
        const sinceMinutes = isRecord(request) ? (request.sinceMinutes ?? 0) : 0;
        if (typeof fraction !== "number" || !(fraction >= 0 && fraction <= 1)) {
          throw new Error(
            'send {"fraction": f} with 0 <= f <= 1 (and optionally "sinceMinutes": m)',
          );
        }
        if (typeof sinceMinutes !== "number" || !(sinceMinutes >= 0)) {
          throw new Error('"sinceMinutes" must be a number >= 0');
        }
        const silenced = this.fleet.silence(fraction, { sinceMs: sinceMinutes * 60_000 });
        return { silenced: silenced.length };
      }
      case "POST /_sim/recover":
        return { recovered: this.fleet.recover().length };
      case "POST /_sim/sample":
        return { sampled: this.fleet.sampleAll() };
      case "POST /_sim/churn": {
        const request = parse();
        const fraction = isRecord(request) ? request.fraction : undefined;
        if (typeof fraction !== "number" || !(fraction >= 0 && fraction <= 1)) {
          throw new Error('send {"fraction": f} with 0 <= f <= 1');
        }
        return { changed: this.fleet.churn(fraction).length };
      }
      default:
        return undefined;
    }
  }
}
