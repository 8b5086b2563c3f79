/**
 * HTTP plumbing shared by the ev.energy client and the token provider: one request with a
 * timeout and an observer, the `Link` and `Retry-After` header parsers, and the mapping of a
 * non-2xx answer to an `EvEnergyProblem`. Nothing here logs, and nothing puts request headers
 * into an error.
 */
import { hostOf, networkFailureReason } from "../../lib/network-failure.js";
import type { Clock, RequestObserver } from "../../ports.js";
import { EvEnergyProblem } from "./errors.js";
import { ProblemSchema } from "./schemas.js";

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

export type HttpOutcome =
  | { kind: "answer"; answer: HttpAnswer }
  | { kind: "failure"; failure: "timeout" | "network-error"; cause: unknown };

export interface SendOptions {
  fetch: typeof fetch;
  clock: Clock;
  timeoutMs: number;
  observe: RequestObserver | undefined;
  observeKind: "api" | "token";
}

/**
 * Sends one request and reads its whole body under one timeout. Network failures and
 * timeouts come back as values (the caller decides whether to retry); the observer hears of
 * every request exactly once.
 */
export async function send(
  url: URL,
  init: RequestInit,
  options: SendOptions,
): Promise<HttpOutcome> {
  const at = options.clock.now();
  const method = init.method ?? "GET";
  const signal = AbortSignal.timeout(options.timeoutMs);
  let outcome: HttpOutcome;
  try {
    const response = await options.fetch(url, { ...init, signal });
    const text = await response.text();
    outcome = {
      kind: "answer",
      answer: { status: response.status, headers: response.headers, text },
    };
  } catch (error) {
    const timedOut = signal.aborted || (error instanceof Error && error.name === "TimeoutError");
    outcome = { kind: "failure", failure: timedOut ? "timeout" : "network-error", cause: error };
  }
  options.observe?.({
    kind: options.observeKind,
    method,
    status: outcome.kind === "answer" ? outcome.answer.status : outcome.failure,
    at,
  });
  return outcome;
}

/** `GET /v2/evses`: how requests are named in logs and errors (no query, no headers). */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.pathname}`;
}

/**
 * The failure of a request that got no answer, as an Error to carry as a cause: the request,
 * the host and port it went to, and why (e.g. `connection refused (ECONNREFUSED)`).
 */
export function failureError(
  outcome: Extract<HttpOutcome, { kind: "failure" }>,
  request: string,
  url: URL,
): Error {
  const reason =
    outcome.failure === "timeout" ? "timed out" : `failed: ${networkFailureReason(outcome.cause)}`;
  return new Error(`${request} to ${hostOf(url)} ${reason}`, { cause: outcome.cause });
}

/**
 * Parses an RFC 8288 `Link` header into relation → target (first one wins). Targets are
 * returned as written; the caller resolves them against the request URL.
 */
export function parseLinkHeader(value: string | null): Map<string, string> {
  const links = new Map<string, string>();
  if (!value) return links;
  let rest = value;
  for (;;) {
    const open = rest.indexOf("<");
    if (open === -1) break;
    const close = rest.indexOf(">", open + 1);
    if (close === -1) break;
    const target = rest.slice(open + 1, close).trim();
    const { params, remainder } = readLinkParams(rest.slice(close + 1));
    const rel = params.get("rel");
    for (const name of rel?.toLowerCase().split(/\s+/) ?? []) {
      if (name && !links.has(name)) links.set(name, target);
    }
    rest = remainder;
  }
  return links;
}

/** Reads `; name=value; name="quoted, value"` up to the `,` that ends this link-value. */
function readLinkParams(text: string): { params: Map<string, string>; remainder: string } {
  const params = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[\s;]/.test(text.charAt(i))) i++;
    if (i >= text.length || text.charAt(i) === ",") {
      return { params, remainder: text.slice(i + 1) };
    }
    let name = "";
    while (i < text.length && !/[\s=;,]/.test(text.charAt(i))) name += text.charAt(i++);
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
    let paramValue = "";
    if (text.charAt(i) === "=") {
      i++;
      while (i < text.length && /\s/.test(text.charAt(i))) i++;
      if (text.charAt(i) === '"') {
        i++;
        while (i < text.length && text.charAt(i) !== '"') {
          if (text.charAt(i) === "\\") i++;
          paramValue += text.charAt(i++);
        }
        i++;
      } else {
        while (i < text.length && !/[\s;,]/.test(text.charAt(i))) paramValue += text.charAt(i++);
      }
    }
    if (name && !params.has(name.toLowerCase())) params.set(name.toLowerCase(), paramValue);
  }
  return { params, remainder: "" };
}

/**
 * How long a `Retry-After` asks to wait, in ms from `now`: delta-seconds or an HTTP-date
 * (RFC 9110 §10.2.3). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

const LARGE_BODY = 1000;

/**
 * The error for a non-2xx answer. A problem+json body gives its fields; any other body is
 * summarised by type and size so a huge or odd body is never echoed.
 */
export function problemFromAnswer(answer: HttpAnswer, request: string): EvEnergyProblem {
  const contentType = answer.headers.get("content-type") ?? "";
  if (/json/i.test(contentType) && answer.text.length > 0) {
    const problem = parseProblem(answer.text);
    if (problem && (problem.title !== undefined || problem.detail !== undefined)) {
      return new EvEnergyProblem(
        {
          status: answer.status,
          type: problem.type,
          title: problem.title,
          detail: truncate(problem.detail),
          instance: problem.instance,
          fieldErrors: problem.field_errors,
        },
        request,
      );
    }
  }
  const kind = contentType.split(";")[0]?.trim() || "no content type";
  const size = answer.text.length > LARGE_BODY ? "large body" : `${answer.text.length} chars`;
  return new EvEnergyProblem({ status: answer.status }, request, `${kind}, ${size}`);
}

function parseProblem(text: string) {
  try {
    const parsed = ProblemSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function truncate(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= LARGE_BODY) return text;
  return `${text.slice(0, LARGE_BODY)}…`;
}

/** Parses a JSON body; a syntax error is reported without quoting the body. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
