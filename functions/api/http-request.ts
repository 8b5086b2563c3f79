/**
 * Reading an API Gateway REST proxy event: headers (case-insensitive), query parameters (each
 * at most once), the caller, and a JSON body within the size limit. Every refusal is an
 * HttpProblem with a clear detail; nothing here trusts the event's shape.
 */
import type { APIGatewayProxyEvent } from "aws-lambda";
import { z } from "zod";
import {
  InvalidPrincipal,
  type Principal,
  parsePrincipal,
} from "../core/decommission/principal.js";
import { badRequest, type FieldError, HttpProblem } from "./problems.js";
import { MAX_BODY_BYTES } from "./schemas.js";

export interface ReadRequest {
  method: string;
  path: string;
  /** Lower-case names. */
  headers: Map<string, string[]>;
  query: Map<string, string[]>;
}

/** The stage-less path and the parts of the event the API reads, null-safe. */
export function readEvent(event: APIGatewayProxyEvent): ReadRequest {
  return {
    method: typeof event.httpMethod === "string" ? event.httpMethod.toUpperCase() : "",
    path: typeof event.path === "string" ? event.path : "",
    headers: collect(event.headers, event.multiValueHeaders, true),
    query: collect(event.queryStringParameters, event.multiValueQueryStringParameters, false),
  };
}

function collect(
  single: Record<string, string | undefined> | null | undefined,
  multi: Record<string, string[] | undefined> | null | undefined,
  lowerCase: boolean,
): Map<string, string[]> {
  const values = new Map<string, string[]>();
  const add = (name: string, list: unknown[]) => {
    const key = lowerCase ? name.toLowerCase() : name;
    const strings = list.filter((value): value is string => typeof value === "string");
    if (strings.length === 0) return;
    values.set(key, [...(values.get(key) ?? []), ...strings]);
  };
  if (multi && typeof multi === "object") {
    for (const [name, list] of Object.entries(multi)) if (Array.isArray(list)) add(name, list);
  }
  if (single && typeof single === "object") {
    for (const [name, value] of Object.entries(single)) {
      const key = lowerCase ? name.toLowerCase() : name;
      if (!values.has(key) && typeof value === "string") add(name, [value]);
    }
  }
  if (!lowerCase) return values;
  // Headers given in both maps are the same header: keep the multi-value list once.
  for (const [key, list] of values) values.set(key, [...new Set(list)]);
  return values;
}

export function header(request: ReadRequest, name: string): string | undefined {
  const list = request.headers.get(name.toLowerCase());
  if (list === undefined) return undefined;
  if (list.length > 1) throw badRequest(`the ${name} header must be sent once`);
  return list[0];
}

/**
 * The caller, from the identity API Gateway verified (`requestContext.identity.userArn`).
 * No header is ever consulted: the local server puts its X-Principal into this same field.
 */
export function callerOf(event: APIGatewayProxyEvent): Principal {
  const identity = event.requestContext?.identity;
  const arn = typeof identity?.userArn === "string" ? identity.userArn : undefined;
  if (arn === undefined || arn === "") {
    throw new HttpProblem(
      401,
      "unauthenticated",
      "Unauthenticated",
      "the call carries no IAM caller identity; sign it with SigV4",
    );
  }
  try {
    const principal = parsePrincipal(arn);
    // API Gateway also reports the caller's account and, for sessions, `ROLEID:SESSION`:
    // where given they must agree with the ARN.
    const account = identity?.accountId;
    if (typeof account === "string" && account !== "" && account !== principal.account) {
      throw new InvalidPrincipal("account mismatch");
    }
    const caller = identity?.caller;
    if (typeof caller === "string" && caller.includes(":") && principal.session !== null) {
      if (caller.slice(caller.indexOf(":") + 1) !== principal.session) {
        throw new InvalidPrincipal("session mismatch");
      }
    }
    return principal;
  } catch (error) {
    if (!(error instanceof InvalidPrincipal)) throw error;
    throw new HttpProblem(
      403,
      "unauthenticated",
      "Unsupported caller",
      "the caller is not an IAM role, user or STS session this API can attribute actions to",
    );
  }
}

/** Query parameters through a strict schema; each parameter may appear once. */
export function parseQuery<T extends z.ZodType>(request: ReadRequest, schema: T): z.output<T> {
  // No prototype: a parameter named `__proto__` is just an unknown parameter.
  const flat: Record<string, string> = Object.create(null);
  for (const [name, values] of request.query) {
    if (values.length > 1) throw badRequest(`the query parameter ${safe(name)} must appear once`);
    flat[name] = values[0] ?? "";
  }
  const parsed = schema.safeParse(flat);
  if (parsed.success) return parsed.data;
  const errors = issuesToErrors(parsed.error.issues, flat, "query:", knownKeys(schema));
  throw badRequest(`invalid query: ${errors[0]?.detail ?? "not understood"}`, errors);
}

const JSON_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * The JSON body through a strict schema.
 * 1. Over 16 KB → 413 (checked on the decoded bytes, before parsing).
 * 2. A body needs `Content-Type: application/json` (charset, if any, UTF-8) → else 415.
 * 3. No body: `{}` when `optional`, else 400.
 * 4. Invalid UTF-8, malformed JSON, not an object → 400; schema errors → 400 naming each field.
 */
export function parseBody<T extends z.ZodType>(
  event: APIGatewayProxyEvent,
  request: ReadRequest,
  schema: T,
  options: { optional: boolean },
): { value: z.output<T>; raw: unknown } {
  const bytes = bodyBytes(event);
  if (bytes.length > MAX_BODY_BYTES) {
    throw new HttpProblem(
      413,
      "payload-too-large",
      "Payload too large",
      `the body is ${bytes.length} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  }
  if (bytes.length === 0) {
    if (!options.optional) throw badRequest("a JSON body is required");
    return parseValue(schema, {});
  }
  const contentType = header(request, "content-type");
  if (contentType === undefined || !JSON_TYPE.test(contentType.trim())) {
    throw new HttpProblem(
      415,
      "unsupported-media-type",
      "Unsupported media type",
      "send the body as Content-Type: application/json (UTF-8)",
      {},
      { "Accept-Post": "application/json" },
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badRequest("the body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest("the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("the body must be a JSON object");
  }
  return parseValue(schema, value);
}

function parseValue<T extends z.ZodType>(schema: T, raw: unknown) {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { value: parsed.data, raw };
  const errors = issuesToErrors(parsed.error.issues, raw, "", knownKeys(schema));
  // The unknown field first: `{"comment": "no"}` on reject is about `comment`, not `reason`.
  errors.sort((a, b) => Number(b.unknown === true) - Number(a.unknown === true));
  throw badRequest(
    `invalid body: ${errors[0]?.detail ?? "not understood"}`,
    errors.map(({ unknown: _unknown, ...error }) => error),
  );
}

function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  const body = event.body;
  if (typeof body !== "string" || body === "") return Buffer.alloc(0);
  if (event.isBase64Encoded === true) {
    // Base64 of more than the limit cannot decode to less: refuse before decoding.
    if (body.length > Math.ceil((MAX_BODY_BYTES + 3) / 3) * 4 + 4) {
      return Buffer.alloc(MAX_BODY_BYTES + 1);
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw badRequest("the body is not valid base64");
    }
    return Buffer.from(body, "base64");
  }
  return Buffer.from(body, "utf8");
}

/** The fields a strict object schema accepts, to name them when a caller sends another. */
function knownKeys(schema: z.ZodType): string[] {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function issuesToErrors(
  issues: readonly z.core.$ZodIssue[],
  raw: unknown,
  prefix: string,
  known: readonly string[] = [],
): Array<FieldError & { unknown?: true }> {
  const errors: Array<FieldError & { unknown?: true }> = [];
  const accepted = known.length === 0 ? "" : ` (this call takes ${known.join(", ")})`;
  for (const issue of issues.slice(0, 20)) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        errors.push({
          pointer: pointer(prefix, [...issue.path, key]),
          detail: `${safe(key)} is not a known field${issue.path.length === 0 ? accepted : ""}`,
          unknown: true,
        });
      }
      continue;
    }
    const missing = valueAt(raw, issue.path) === undefined;
    const name = issue.path.map(String).join(".") || "value";
    errors.push({
      pointer: pointer(prefix, issue.path),
      detail: `${safe(name)} ${missing ? "is required" : issue.message}`,
    });
  }
  return errors;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function pointer(prefix: string, path: readonly PropertyKey[]): string {
  const keys = path.map((key) => safe(String(key)));
  if (prefix !== "") return `${prefix}${keys.join(".")}`;
  return `/${keys.map((key) => key.replace(/~/g, "~0").replace(/\//g, "~1")).join("/")}`;
}

/** A caller-supplied name, shortened and stripped of control characters, for a message. */
function safe(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}
