/**
 * Typed errors of the ev.energy adapter. Each has a stable `name` so handlers can map them in
 * one place. No message ever carries a secret, a token or a request header.
 */

/** The fields of an RFC 9457 problem body, as ev.energy sends them. */
export interface ProblemFields {
  status: number;
  type?: string | undefined;
  title?: string | undefined;
  detail?: string | undefined;
  instance?: string | undefined;
  /** ev.energy's per-field validation messages. */
  fieldErrors?: Record<string, unknown> | undefined;
}

/** A non-2xx answer from ev.energy that no retry resolves (or that retries did not resolve). */
export class EvEnergyProblem extends Error {
  override readonly name = "EvEnergyProblem";
  readonly status: number;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly instance: string | undefined;
  readonly fieldErrors: Record<string, unknown> | undefined;

  /**
   * @param request e.g. `GET /v2/evses/evse…`: no query, no headers.
   * @param summary for a body that is not problem+json: its type and size, never its content.
   */
  constructor(problem: ProblemFields, request: string, summary?: string) {
    const title = problem.title ? ` ${problem.title}` : "";
    const detail = problem.detail ? `: ${problem.detail}` : summary ? ` (${summary})` : "";
    super(`ev.energy answered ${request} with ${problem.status}${title}${detail}`);
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.instance = problem.instance;
    this.fieldErrors = problem.fieldErrors;
  }
}

/** ev.energy asked us to wait (429) longer than the caller can, or the caller owns its retries. */
export class RateLimited extends Error {
  override readonly name = "RateLimited";
  /** Clock time from which ev.energy will accept requests again. */
  readonly retryAt: number;

  constructor(retryAt: number, request: string) {
    super(
      `ev.energy rate limit reached on ${request}; retry at ${new Date(retryAt).toISOString()}`,
    );
    this.retryAt = retryAt;
  }
}

/** ev.energy could not be reached or kept failing transiently until retries ran out. */
export class EvEnergyUnavailable extends Error {
  override readonly name = "EvEnergyUnavailable";
  /** HTTP requests made for this call (token exchanges excluded). */
  readonly attempts: number;

  constructor(request: string, attempts: number, lastCause: unknown) {
    const reason = lastCause instanceof Error ? `${lastCause.name}: ${lastCause.message}` : "";
    super(
      `ev.energy unavailable for ${request} after ${attempts} attempt(s)${reason ? `; last: ${reason}` : ""}`,
      { cause: lastCause },
    );
    this.attempts = attempts;
  }
}

/** The `Link` chain cannot be trusted: a repeated cursor, or a link out of the collection. */
export class PaginationError extends Error {
  override readonly name = "PaginationError";
}

/** A 2xx answer whose body is not the shape the API promises (e.g. not JSON, not an array). */
export class MalformedResponse extends Error {
  override readonly name = "MalformedResponse";
}

/**
 * The credentials are unusable: the secret is missing, unparsable or incomplete, or ev.energy
 * rejected the client credentials. The message names what is wrong, never a value.
 */
export class CredentialsError extends Error {
  override readonly name = "CredentialsError";
}
