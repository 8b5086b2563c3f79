/**
 * ev.energy credentials: the secret's two shapes, and the provider that turns them into a
 * bearer token (exchanging OAuth client credentials when needed). Neither the secret nor any
 * token is ever logged or put into an error message.
 */
import { z } from "zod";
import { isSecureUrl, secureUrl } from "../../lib/secure-url.js";
import type { Clock, Logger, RequestObserver, SecretSource } from "../../ports.js";
import {
  CredentialsError,
  EvEnergyProblem,
  EvEnergyUnavailable,
  MalformedResponse,
  RateLimited,
} from "./errors.js";
import { describeRequest, failureError, parseJson, parseRetryAfter, send } from "./http.js";
import { BEARER_TOKEN_PATTERN, TokenErrorSchema, TokenResponseSchema } from "./schemas.js";

export type Credentials =
  /** A bare token: for trials only (ev.energy tokens live 10 hours and cannot be renewed). */
  | { kind: "access-token"; accessToken: string }
  | { kind: "client-credentials"; clientId: string; clientSecret: string; tokenUrl?: string };

const NonEmptyString = z.string().min(1);
// The client secret is sent there: never in clear across a network.
const TokenUrl = secureUrl("not an https URL");

const SecretSchema = z.object({
  access_token: z.string().regex(BEARER_TOKEN_PATTERN).optional(),
  client_id: NonEmptyString.optional(),
  client_secret: NonEmptyString.optional(),
  token_url: TokenUrl.optional(),
});

const WHAT_IS_WRONG: Record<string, string> = {
  access_token: "access_token is not a valid bearer token (printable ASCII without spaces)",
  client_id: "client_id is not a non-empty string",
  client_secret: "client_secret is not a non-empty string",
  token_url:
    "token_url is not an https URL (plain http only to localhost or 127.0.0.1: the client secret is sent there)",
};

/**
 * Parses the secret: `{"access_token": "…"}` or `{"client_id", "client_secret", "token_url"?}`.
 * When both shapes are present, client credentials win (they can be renewed).
 * @throws CredentialsError naming what is wrong, never a value.
 */
export function parseCredentials(secret: string): Credentials {
  if (secret.trim() === "") throw new CredentialsError("ev.energy secret is empty");
  const json = parseJson(secret);
  if (!json.ok) throw new CredentialsError("ev.energy secret is not valid JSON");
  const value = json.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CredentialsError("ev.energy secret is not a JSON object");
  }
  const parsed = SecretSchema.safeParse(value);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? "");
    throw new CredentialsError(
      `ev.energy secret: ${WHAT_IS_WRONG[field] ?? `${field || "a field"} is not valid`}`,
    );
  }
  const { access_token, client_id, client_secret, token_url } = parsed.data;
  if (client_id !== undefined && client_secret === undefined) {
    throw new CredentialsError("ev.energy secret has client_id but is missing client_secret");
  }
  if (client_secret !== undefined && client_id === undefined) {
    throw new CredentialsError("ev.energy secret has client_secret but is missing client_id");
  }
  if (client_id !== undefined && client_secret !== undefined) {
    return {
      kind: "client-credentials",
      clientId: client_id,
      clientSecret: client_secret,
      ...(token_url === undefined ? {} : { tokenUrl: token_url }),
    };
  }
  if (access_token !== undefined) return { kind: "access-token", accessToken: access_token };
  throw new CredentialsError(
    "ev.energy secret has neither access_token nor client_id+client_secret",
  );
}

/** ev.energy's token endpoint for an API base URL: its origin + `/o/token/`. */
export function defaultTokenUrl(apiBaseUrl: string): string {
  return new URL("/o/token/", apiBaseUrl).href;
}

/** What the client needs from a token provider. */
export interface BearerTokenSource {
  /** A token usable now. */
  token(): Promise<string>;
  /**
   * After a 401: a new token. Re-reads the secret fresh and, for client credentials,
   * exchanges again, unless another caller already replaced `rejected`.
   */
  refresh(rejected?: string): Promise<string>;
}

export interface AccessTokenProviderOptions {
  secrets: SecretSource;
  clock: Clock;
  /** Used when the secret names no `token_url`; see `defaultTokenUrl`. */
  defaultTokenUrl: string;
  /** OAuth scope to ask for, e.g. `evse:read` (poll) or `evse:write` (decommission). */
  scope?: string;
  userAgent?: string;
  /** Default 10 s. */
  requestTimeoutMs?: number;
  /** A token is renewed this long before it expires. Default 5 minutes. */
  refreshMarginMs?: number;
  logger?: Logger;
  onRequest?: RequestObserver;
  fetch?: typeof fetch;
}

interface CachedToken {
  token: string;
  /** Clock time after which the token is renewed before use. */
  renewAt: number;
}

const DEFAULT_LIFETIME_SECONDS = 3600;

/**
 * Supplies bearer tokens. Client credentials are exchanged at most once at a time (concurrent
 * callers share the exchange) and the token is cached until shortly before `expires_in` runs
 * out, by the injected clock.
 */
export class AccessTokenProvider implements BearerTokenSource {
  readonly #secrets: SecretSource;
  readonly #clock: Clock;
  readonly #defaultTokenUrl: string;
  readonly #scope: string | undefined;
  readonly #userAgent: string | undefined;
  readonly #timeoutMs: number;
  readonly #marginMs: number;
  readonly #logger: Logger | undefined;
  readonly #onRequest: RequestObserver | undefined;
  readonly #fetch: typeof fetch;
  #cached: CachedToken | undefined;
  #inFlight: Promise<string> | undefined;
  #warnedBareToken = false;

  constructor(options: AccessTokenProviderOptions) {
    this.#secrets = options.secrets;
    this.#clock = options.clock;
    this.#defaultTokenUrl = options.defaultTokenUrl;
    this.#scope = options.scope;
    this.#userAgent = options.userAgent;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#marginMs = options.refreshMarginMs ?? 5 * 60_000;
    this.#logger = options.logger;
    this.#onRequest = options.onRequest;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  token(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#clock.now() < cached.renewAt) return Promise.resolve(cached.token);
    return this.#load(false);
  }

  refresh(rejected?: string): Promise<string> {
    const cached = this.#cached;
    if (
      rejected !== undefined &&
      cached &&
      cached.token !== rejected &&
      this.#clock.now() < cached.renewAt
    ) {
      return Promise.resolve(cached.token);
    }
    if (this.#inFlight) return this.#inFlight;
    this.#cached = undefined;
    return this.#load(true);
  }

  /** One load at a time: every caller in the meantime gets the same promise. */
  #load(fresh: boolean): Promise<string> {
    if (!this.#inFlight) {
      this.#inFlight = this.#obtain(fresh).finally(() => {
        this.#inFlight = undefined;
      });
    }
    return this.#inFlight;
  }

  async #obtain(fresh: boolean): Promise<string> {
    const credentials = parseCredentials(await this.#secrets.read(fresh ? { fresh } : undefined));
    if (credentials.kind === "access-token") {
      if (!this.#warnedBareToken) {
        this.#warnedBareToken = true;
        this.#logger?.warn(
          "ev.energy secret holds a bare access_token: for trials only, it expires after 10 hours and cannot be renewed; store client_id and client_secret instead",
        );
      }
      this.#cached = { token: credentials.accessToken, renewAt: Number.POSITIVE_INFINITY };
      return credentials.accessToken;
    }
    const obtainedAt = this.#clock.now();
    const { token, lifetimeSeconds } = await this.#exchange(credentials);
    const lifetimeMs = lifetimeSeconds * 1000;
    this.#cached = {
      token,
      renewAt: obtainedAt + lifetimeMs - Math.min(this.#marginMs, lifetimeMs / 2),
    };
    this.#logger?.debug("ev.energy access token obtained", {
      scope: this.#scope,
      expiresInSeconds: lifetimeSeconds,
    });
    return token;
  }

  /**
   * POSTs `grant_type=client_credentials` with HTTP Basic client authentication (RFC 6749
   * §2.3.1: id and secret form-encoded first).
   * @throws CredentialsError when ev.energy rejects the client; RateLimited on 429;
   *   EvEnergyUnavailable on network failures, timeouts, 5xx and unreadable answers.
   */
  async #exchange(
    credentials: Extract<Credentials, { kind: "client-credentials" }>,
  ): Promise<{ token: string; lifetimeSeconds: number }> {
    const url = new URL(credentials.tokenUrl ?? this.#defaultTokenUrl);
    const request = describeRequest("POST", url);
    if (!isSecureUrl(url.href)) {
      throw new CredentialsError(
        `${request}: the token endpoint is not https; the client secret is never sent in clear`,
      );
    }
    const basic = Buffer.from(
      `${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`,
    ).toString("base64");
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (this.#scope) body.set("scope", this.#scope);
    const headers: Record<string, string> = {
      Authorization: `Basic ${basic}`,
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    };
    if (this.#userAgent) headers["User-Agent"] = this.#userAgent;
    const outcome = await send(
      url,
      { method: "POST", headers, body: body.toString() },
      {
        fetch: this.#fetch,
        clock: this.#clock,
        timeoutMs: this.#timeoutMs,
        observe: this.#onRequest,
        observeKind: "token",
      },
    );
    if (outcome.kind === "failure") {
      throw new EvEnergyUnavailable(request, 1, failureError(outcome, request, url));
    }
    const { status, headers: answerHeaders, text } = outcome.answer;
    if (status >= 200 && status < 300) {
      const json = parseJson(text);
      const parsed = json.ok ? TokenResponseSchema.safeParse(json.value) : undefined;
      if (!parsed?.success) {
        const why = new MalformedResponse(`${request} answered ${status} without a usable token`);
        throw new EvEnergyUnavailable(request, 1, why);
      }
      if (parsed.data.token_type && parsed.data.token_type.toLowerCase() !== "bearer") {
        throw new CredentialsError(
          `${request} issued a token of type other than Bearer; the client cannot use it`,
        );
      }
      return {
        token: parsed.data.access_token,
        lifetimeSeconds: parsed.data.expires_in ?? DEFAULT_LIFETIME_SECONDS,
      };
    }
    if (status === 429) {
      const now = this.#clock.now();
      const waitMs = parseRetryAfter(answerHeaders.get("retry-after"), now) ?? 60_000;
      throw new RateLimited(now + waitMs, request);
    }
    if (status === 408 || status >= 500) {
      const problem = new EvEnergyProblem({ status }, request, `${text.length} chars`);
      throw new EvEnergyUnavailable(request, 1, problem);
    }
    const json = parseJson(text);
    const oauth = json.ok ? TokenErrorSchema.safeParse(json.value) : undefined;
    const code = oauth?.success ? `, ${oauth.data.error}` : "";
    throw new CredentialsError(
      `ev.energy rejected the client credentials (${request} answered ${status}${code})`,
    );
  }
}
