/**
 * RFC 9457 problem details: every non-2xx answer of the API is one, and this is the one place
 * where typed errors become HTTP statuses. A 5xx never carries the error's message.
 */
import type { APIGatewayProxyResult } from "aws-lambda";
import { DecommissionRefusal } from "../core/decommission/errors.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
/** On every answer: nothing about a decommission is cached, nothing is sniffed. */
export const SAFE_HEADERS = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };
const TYPE_BASE = "urn:evse-ops:problem:";

/** A malformed call: the HTTP layer's own refusals. */
export class HttpProblem extends Error {
  override readonly name = "HttpProblem";
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export interface FieldError {
  /** JSON Pointer (RFC 6901) into the body, or `header:`/`query:` + name. */
  pointer: string;
  detail: string;
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new HttpProblem(400, "invalid-request", "Invalid request", detail, errors ? { errors } : {});

/** Refusal name → [status, type slug, title]. */
const REFUSALS: Record<string, [number, string, string]> = {
  RequestNotFound: [404, "request-not-found", "Decommission request not found"],
  EvseNotFound: [404, "evse-not-found", "EVSE not found"],
  EvseNotActive: [409, "evse-not-active", "EVSE is not active"],
  OpenRequestExists: [409, "open-request-exists", "An open request exists for this EVSE"],
  InvalidTransition: [
    409,
    "invalid-transition",
    "Request is not in a status this action applies to",
  ],
  RequestExpired: [409, "request-expired", "Request expired"],
  RequestNotOpened: [409, "request-not-opened", "Request does not hold its EVSE"],
  RequestTampered: [409, "request-tampered", "Request changed outside the API"],
  RequestBusy: [409, "request-busy", "Request is being changed"],
  DeviceCharging: [409, "device-charging", "EVSE is charging"],
  NotApprover: [403, "not-approver", "Not an approver"],
  SelfApproval: [403, "self-approval", "Requester cannot approve"],
  NotRequester: [403, "not-requester", "Not the requester"],
  NotAPerson: [403, "not-a-person", "Caller names no person"],
  IdempotencyKeyReused: [422, "idempotency-key-reused", "Idempotency key reused"],
  IdempotencyKeyInFlight: [409, "idempotency-key-in-flight", "Idempotency key in use"],
  InvalidCursor: [400, "invalid-cursor", "Invalid cursor"],
};

/**
 * The answer for an error: HttpProblems and DecommissionRefusals as they say; anything else
 * is a 500 that names only the request id to quote to operators.
 */
export function problemFor(
  error: unknown,
  instance: string,
  correlationId: string,
): { response: APIGatewayProxyResult; unexpected: boolean } {
  if (error instanceof HttpProblem) {
    return {
      response: problemResponse(error.status, error.slug, error.title, error.detail, instance, {
        extra: error.extra,
        headers: error.headers,
      }),
      unexpected: false,
    };
  }
  if (error instanceof DecommissionRefusal) {
    const [status, slug, title] = REFUSALS[error.name] ?? [409, "conflict", "Conflict"];
    const extra: Record<string, unknown> = {};
    if ("openRequestId" in error && typeof error.openRequestId === "string") {
      extra.openRequestId = error.openRequestId;
    }
    if ("status" in error && typeof error.status === "string") extra.requestStatus = error.status;
    return {
      response: problemResponse(status, slug, title, error.message, instance, { extra }),
      unexpected: false,
    };
  }
  return {
    response: problemResponse(
      500,
      "internal-error",
      "Internal error",
      `the request could not be completed; quote ${correlationId} to the operators`,
      instance,
      { extra: { correlationId } },
    ),
    unexpected: true,
  };
}

export function problemResponse(
  status: number,
  slug: string,
  title: string,
  detail: string,
  instance: string,
  options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: {
      "Content-Type": PROBLEM_CONTENT_TYPE,
      ...SAFE_HEADERS,
      ...options.headers,
    },
    body: JSON.stringify({
      type: TYPE_BASE + slug,
      title,
      status,
      detail,
      instance,
      ...options.extra,
    }),
  };
}

/** Every problem type the API answers with, for the OpenAPI document. */
export const PROBLEM_TYPES: readonly string[] = [
  ...new Set([
    ...Object.values(REFUSALS).map(([, slug]) => slug),
    "invalid-request",
    "payload-too-large",
    "unsupported-media-type",
    "not-found",
    "method-not-allowed",
    "not-acceptable",
    "fleet-snapshot-not-found",
    "unauthenticated",
    "internal-error",
    // Answered by API Gateway itself (Gateway Responses), see infra/constructs/decommission-api.ts.
    "throttled",
  ]),
].map((slug) => TYPE_BASE + slug);
