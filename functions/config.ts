/**
 * The functions' configuration, read from the environment once per cold start and validated:
 * a missing or wrong value fails at start with an error naming the variable.
 */
import { z } from "zod";

export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

const text = z.string().trim().min(1, "must not be empty");
const positive = z.coerce.number().positive("must be a positive number");
const wholeAtLeastZero = z.coerce.number().int().min(0, "must be a whole number ≥ 0");

const PollEnvironment = z.object({
  TABLE_NAME: text,
  EVENT_BUS_NAME: text,
  EVENT_SOURCE: text.default("evse-ops"),
  EVENERGY_API_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  EVENERGY_TOKEN_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  EVENERGY_SCOPE: text.default("evse:read"),
  EVENERGY_SECRET_ID: text,
  STALENESS_MINUTES: positive.default(15),
  CHARGE_RATE_THRESHOLD_WATTS: wholeAtLeastZero.default(500),
  HEARTBEAT_MINUTES: positive.default(60),
  BUDGET_SHARE: z.coerce.number().gt(0).max(1, "must be in (0, 1]").default(0.8),
  RESERVE_REQUESTS: wholeAtLeastZero.default(50),
  RATE_LIMIT_DEFAULT: z.coerce
    .number()
    .int()
    .positive("must be a positive whole number")
    .default(1000),
  EVENERGY_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100, "must be at least 100")
    .default(10_000),
});

export type PollEnvironment = z.infer<typeof PollEnvironment>;

/** The poll's settings from `env`; throws ConfigurationError listing every bad variable. */
export function loadPollEnvironment(env: Readonly<Record<string, string | undefined>>) {
  return parseEnvironment(PollEnvironment, env);
}

export function parseEnvironment<T extends z.ZodType>(
  schema: T,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<T> {
  // Empty variables count as unset, so defaults apply and required ones are reported missing.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? "environment");
    return issue.code === "invalid_type" && present[name] === undefined
      ? `${name} is not set`
      : `${name} ${issue.message}`;
  });
  throw new ConfigurationError(`invalid configuration: ${problems.join("; ")}`);
}
