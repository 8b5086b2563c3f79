/**
 * The ev.energy v2 HTTP client: listing, reading and deleting EVSEs with the retry policy,
 * pagination checks and tolerant reading the poll and the decommission executor rely on.
 */
import packageJson from "../../../package.json" with { type: "json" };
import { EVSE_ID_PATTERN, type Evse } from "../../core/evse.js";
import type {
  CallOptions,
  Clock,
  DeleteOutcome,
  EvEnergyApi,
  EvseLookup,
  EvsePage,
  ListOptions,
  Logger,
  Random,
  RateLimitState,
  RequestObserver,
} from "../../ports.js";
import type { BearerTokenSource } from "./credentials.js";
import { EvEnergyUnavailable, MalformedResponse, PaginationError, RateLimited } from "./errors.js";
import {
  describeRequest,
  failureError,
  type HttpAnswer,
  parseJson,
  parseLinkHeader,
  parseRetryAfter,
  problemFromAnswer,
  send,
} from "./http.js";
import { type ItemReading, readEvseItem } from "./schemas.js";

export const DEFAULT_USER_AGENT = `evse-ops/${packageJson.version}`;
const PAGE_SIZE = 100;

export interface EvEnergyClientOptions {
  /** e.g. `https://api.ev.energy/v2` */
  baseUrl: string;
  tokens: BearerTokenSource;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Default `evse-ops/<package version>`. */
  userAgent?: string;
  /** Per request, body included. Default 10 s. */
  requestTimeoutMs?: number;
  /** Requests per call, first one included (a 401 refresh adds one more). Default 4. */
  maxAttempts?: number;
  /** Default 200 ms. */
  baseBackoffMs?: number;
  /** Default 20 s. */
  maxBackoffMs?: number;
  onRequest?: RequestObserver;
  fetch?: typeof fetch;
}

/** What a 2xx answer turns into; throws MalformedResponse when it has the wrong shape. */
type Interpret<T> = (answer: HttpAnswer) => T;

/** The next move after one attempt. */
type Step<T> =
  | { kind: "done"; value: T }
  | { kind: "transient"; cause: unknown; unsent?: true }
  | { kind: "rate-limited"; retryAt: number; unsent?: true }
  | { kind: "unauthorized"; token: string; answer: HttpAnswer };

export class EvEnergyClient implements EvEnergyApi {
  readonly #baseUrl: string;
  readonly #tokens: BearerTokenSource;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #onRequest: RequestObserver | undefined;
  readonly #fetch: typeof fetch;
  #rateLimit: RateLimitState | undefined;

  constructor(options: EvEnergyClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#tokens = options.tokens;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#logger = options.logger;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.#baseBackoffMs = options.baseBackoffMs ?? 200;
    this.#maxBackoffMs = options.maxBackoffMs ?? 20_000;
    this.#onRequest = options.onRequest;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  get rateLimit(): RateLimitState | undefined {
    return this.#rateLimit;
  }

  /**
   * Every EVSE, a page of 100 at a time with the latest status log expanded.
   * 1. Start at the collection (or at `resumeFrom`, which must point into it).
   * 2. Read a page (retried as `CallOptions` allow) and read its items tolerantly.
   * 3. Check its `next` link: it must stay in the collection and bring a cursor not seen in
   *    this iteration, else PaginationError before the page is handed out.
   * 4. Yield the page; stop at `about:blank` or no `next`.
   */
  async *listEvses(options: ListOptions = {}): AsyncGenerator<EvsePage, void, undefined> {
    const collection = new URL(`${this.#baseUrl}/evses`);
    const first = new URL(collection);
    first.searchParams.set("page_size", String(PAGE_SIZE));
    first.searchParams.set("expand", "latest_status_log");
    let url = first;
    if (options.resumeFrom !== undefined) {
      url = this.#checkInCollection(options.resumeFrom, collection, "resumeFrom");
    }
    const seen = new Set<string>([cursorKey(url)]);
    for (;;) {
      const pageUrl = url;
      const { items, link } = await this.#execute("GET", pageUrl, options, (answer) => ({
        items: this.#readArray(answer, pageUrl),
        link: answer.headers.get("link"),
      }));
      const target = parseLinkHeader(link).get("next");
      let next: URL | undefined;
      if (target !== undefined && target !== "about:blank") {
        next = this.#checkInCollection(target, collection, "next link", pageUrl);
        const key = cursorKey(next);
        if (seen.has(key)) {
          throw new PaginationError(
            `ev.energy next link repeats a cursor already read in this listing (${next.searchParams.get("page_after") ?? next.href})`,
          );
        }
        seen.add(key);
      }
      yield { ...this.#readItems(items, pageUrl), url: pageUrl.href, next: next?.href };
      if (next === undefined) return;
      url = next;
    }
  }

  /** One EVSE with its latest status log expanded; a 404 is `not-found`, not an error. */
  async getEvse(id: string, options: CallOptions = {}): Promise<EvseLookup> {
    // An id that cannot exist is not sent: it could only miss, or escape the path.
    if (!EVSE_ID_PATTERN.test(id)) return { status: "not-found", evseId: id };
    const url = new URL(`${this.#baseUrl}/evses/${id}`);
    url.searchParams.set("expand", "latest_status_log");
    return this.#execute<EvseLookup>(
      "GET",
      url,
      options,
      (answer) => {
        const body = parseJson(answer.text);
        const reading = body.ok ? readEvseItem(body.value) : undefined;
        const request = describeRequest("GET", url);
        if (!body.ok)
          throw new MalformedResponse(`${request} answered with a body that is not JSON`);
        if (!reading) throw new MalformedResponse(`${request} answered an EVSE without a valid id`);
        if (reading.evse.id !== id) {
          throw new MalformedResponse(`${request} answered a different EVSE (${reading.evse.id})`);
        }
        this.#warnAboutFields(reading);
        return { status: "found", evse: reading.evse };
      },
      () => ({ status: "not-found", evseId: id }),
    );
  }

  /**
   * Decommissions an EVSE: irreversible. 204 → `deleted`, 404 → `not-found`. A DELETE is
   * retried after 429, 408, 5xx, timeouts and resets like any call; ev.energy has no idempotency
   * key, so after a retry a `not-found` can mean "our earlier attempt deleted it": callers that
   * must tell the two apart pass `retries: false` and re-read.
   */
  async deleteEvse(id: string, options: CallOptions = {}): Promise<DeleteOutcome> {
    if (!EVSE_ID_PATTERN.test(id)) return { status: "not-found", evseId: id };
    const url = new URL(`${this.#baseUrl}/evses/${id}`);
    return this.#execute<DeleteOutcome>(
      "DELETE",
      url,
      options,
      () => ({ status: "deleted" }),
      () => ({ status: "not-found", evseId: id }),
    );
  }

  /**
   * One call with the retry policy:
   * - 2xx → `interpret`; a MalformedResponse from it on a GET counts as transient;
   * - 404 → `notFound` when the call expects it;
   * - 401 → refresh the credentials and retry once (even with `retries: false`: this is
   *   credential handling, not a retry of the outcome); a second 401 is an EvEnergyProblem;
   * - 429 → wait for Retry-After, unless retries are off or the wait passes the deadline
   *   (RateLimited with `retryAt`);
   * - 408, 5xx, timeouts, resets → full-jitter exponential backoff, bounded by `maxAttempts`
   *   and the deadline, then EvEnergyUnavailable with the last cause;
   * - anything else (400, 403, 409, 422, …) → EvEnergyProblem at once.
   */
  async #execute<T>(
    method: "GET" | "DELETE",
    url: URL,
    options: CallOptions,
    interpret: Interpret<T>,
    notFound?: () => T,
  ): Promise<T> {
    const request = describeRequest(method, url);
    const retries = options.retries !== false;
    let failures = 0;
    let sent = 0;
    let refreshed = false;
    /** A failed renewal after a 401, to be handled as this call's next failed attempt. */
    let renewalFailed: Step<T> | undefined;
    for (;;) {
      const step =
        renewalFailed ??
        (await this.#attempt(method, url, request, interpret, notFound, options.onRequest));
      renewalFailed = undefined;
      if (step.kind === "done" || step.kind === "unauthorized" || !step.unsent) sent += 1;
      switch (step.kind) {
        case "done":
          return step.value;
        case "unauthorized": {
          if (refreshed) throw problemFromAnswer(step.answer, request);
          refreshed = true;
          this.#logger.info("ev.energy answered 401; renewing credentials and retrying once", {
            request,
          });
          try {
            await this.#tokens.refresh(step.token);
          } catch (error) {
            // A token endpoint that is down or busy: a failed attempt under the same policy
            // (with retries off, the call ends here), never a second exchange at once. A call
            // thus sends at most an exchange, the request, the renewal and the request again.
            if (error instanceof RateLimited) {
              renewalFailed = { kind: "rate-limited", retryAt: error.retryAt, unsent: true };
            } else if (error instanceof EvEnergyUnavailable) {
              renewalFailed = { kind: "transient", cause: error, unsent: true };
            } else throw error;
          }
          continue;
        }
        case "rate-limited": {
          failures += 1;
          const waitMs = Math.max(0, step.retryAt - this.#clock.now());
          const pastDeadline = options.deadline !== undefined && step.retryAt > options.deadline;
          if (!retries || failures >= this.#maxAttempts || pastDeadline) {
            throw new RateLimited(step.retryAt, request);
          }
          this.#logger.warn("ev.energy rate limit reached; waiting for Retry-After", {
            request,
            waitMs,
          });
          await this.#clock.sleep(waitMs);
          continue;
        }
        case "transient": {
          failures += 1;
          if (!retries || failures >= this.#maxAttempts) {
            throw new EvEnergyUnavailable(request, sent, step.cause);
          }
          const ceiling = Math.min(this.#maxBackoffMs, this.#baseBackoffMs * 2 ** (failures - 1));
          const delayMs = Math.floor(this.#random() * ceiling);
          if (options.deadline !== undefined && this.#clock.now() + delayMs > options.deadline) {
            throw new EvEnergyUnavailable(request, sent, step.cause);
          }
          this.#logger.warn("ev.energy request failed; retrying", {
            request,
            attempt: failures,
            delayMs,
            reason: step.cause instanceof Error ? step.cause.message : String(step.cause),
          });
          await this.#clock.sleep(delayMs);
        }
      }
    }
  }

  /** One request, classified. Token acquisition failures are classified like the request's. */
  async #attempt<T>(
    method: "GET" | "DELETE",
    url: URL,
    request: string,
    interpret: Interpret<T>,
    notFound: (() => T) | undefined,
    onRequest: RequestObserver | undefined,
  ): Promise<Step<T>> {
    let token: string;
    try {
      token = await this.#tokens.token();
    } catch (error) {
      // The token exchange failed before this request was sent: same policy, no request.
      if (error instanceof EvEnergyUnavailable) {
        return { kind: "transient", cause: error, unsent: true };
      }
      if (error instanceof RateLimited) {
        return { kind: "rate-limited", retryAt: error.retryAt, unsent: true };
      }
      throw error;
    }
    const outcome = await send(
      url,
      {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          "EvEnergy-Version": "2",
          "User-Agent": this.#userAgent,
          Accept: "application/json",
        },
      },
      {
        fetch: this.#fetch,
        clock: this.#clock,
        timeoutMs: this.#timeoutMs,
        observe: onRequest
          ? (sent) => {
              this.#onRequest?.(sent);
              onRequest(sent);
            }
          : this.#onRequest,
        observeKind: "api",
      },
    );
    if (outcome.kind === "failure") {
      return { kind: "transient", cause: failureError(outcome, request, url) };
    }
    const answer = outcome.answer;
    this.#observeRateLimit(answer.headers);
    const status = answer.status;
    if (status >= 200 && status < 300) {
      try {
        return { kind: "done", value: interpret(answer) };
      } catch (error) {
        if (method === "GET" && error instanceof MalformedResponse) {
          return { kind: "transient", cause: error };
        }
        throw error;
      }
    }
    if (status === 404 && notFound) return { kind: "done", value: notFound() };
    if (status === 401) return { kind: "unauthorized", token, answer };
    if (status === 429) {
      const now = this.#clock.now();
      const waitMs =
        parseRetryAfter(answer.headers.get("retry-after"), now) ??
        Math.min(this.#maxBackoffMs, this.#baseBackoffMs);
      return { kind: "rate-limited", retryAt: now + waitMs };
    }
    if (status === 408 || status >= 500) {
      return { kind: "transient", cause: problemFromAnswer(answer, request) };
    }
    throw problemFromAnswer(answer, request);
  }

  #observeRateLimit(headers: Headers): void {
    const limit = Number.parseInt(headers.get("x-ratelimit-limit") ?? "", 10);
    const remaining = Number.parseInt(headers.get("x-ratelimit-remaining") ?? "", 10);
    if (Number.isFinite(limit) && Number.isFinite(remaining)) {
      this.#rateLimit = { limit, remaining, observedAt: this.#clock.now() };
    }
  }

  #readArray(answer: HttpAnswer, url: URL): unknown[] {
    const body = parseJson(answer.text);
    const request = describeRequest("GET", url);
    if (!body.ok) throw new MalformedResponse(`${request} answered with a body that is not JSON`);
    if (!Array.isArray(body.value)) {
      throw new MalformedResponse(`${request} answered with a body that is not a JSON array`);
    }
    return body.value;
  }

  /** Reads every item on its own: nothing on one item is fatal to the rest of the page. */
  #readItems(items: unknown[], url: URL): { evses: Evse[]; droppedCount: number } {
    const evses: Evse[] = [];
    let droppedCount = 0;
    items.forEach((item, position) => {
      const reading = readEvseItem(item);
      if (!reading) {
        droppedCount += 1;
        // The position, not the content: an id-less item may hold anything.
        this.#logger.warn("ev.energy list item without a valid id dropped", {
          page: url.href,
          position,
        });
        return;
      }
      this.#warnAboutFields(reading);
      evses.push(reading.evse);
    });
    return { evses, droppedCount };
  }

  #warnAboutFields(reading: ItemReading): void {
    if (reading.problems.length === 0) return;
    this.#logger.warn("ev.energy EVSE has fields the reader could not use; they are unknown", {
      evseId: reading.evse.id,
      fields: reading.problems.map((p) => `${p.field} (${p.problem})`),
    });
  }

  /** A link must stay in the collection it came from: same origin, same path. */
  #checkInCollection(target: string, collection: URL, what: string, base?: URL): URL {
    let url: URL;
    try {
      url = new URL(target, base);
    } catch {
      throw new PaginationError(`ev.energy ${what} is not a URL`);
    }
    const samePath = trimSlash(url.pathname) === trimSlash(collection.pathname);
    if (url.origin !== collection.origin || !samePath) {
      throw new PaginationError(
        `ev.energy ${what} leaves the collection ${collection.pathname} (points to ${url.origin}${url.pathname})`,
      );
    }
    return url;
  }
}

function trimSlash(path: string): string {
  return path.replace(/\/+$/, "");
}

/** A page's identity for loop detection: its cursor, or its whole URL when it has none. */
function cursorKey(url: URL): string {
  const cursor = url.searchParams.get("page_after");
  return cursor === null ? `url:${url.href}` : `after:${cursor}`;
}
