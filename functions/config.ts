/**
 * The functions' configuration, read from the environment once per cold start and validated:
 * a missing or wrong value fails at start with an error naming the variable.
 */
import { z } from "zod";
import { secureUrl } from "./lib/secure-url.js";

export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

const text = z.string().trim().min(1, "must not be empty");
const positive = z.coerce.number().positive("must be a positive number");
const wholeAtLeastZero = z.coerce.number().int().min(0, "must be a whole number ≥ 0");
// Tokens and client secrets travel to these: https, or http only to a loopback simulator.
const httpUrl = secureUrl("must be an https URL (http only to localhost or 127.0.0.1)");
const flag = z
  .enum(["true", "false"], { error: "must be true or false" })
  .transform((v) => v === "true");

/**
 * The webhook path's share of the rate limit, taken out of BUDGET_SHARE: the poll keeps
 * BUDGET_SHARE - WEBHOOK_BUDGET_SHARE. 0 (the default where it is unset) gives the poll all of
 * it; infra and the sandbox set it, to the same value for the poll and the webhook worker.
 */
const webhookBudgetShare = z.coerce.number().min(0).lt(1, "must be in [0, 1)");

/**
 * What the poll and the webhook worker share: the table and bus they write, ev.energy access
 * (read scope), change detection, the hourly budget they split, and how long history is kept.
 */
const changeObserverFields = {
  TABLE_NAME: text,
  EVENT_BUS_NAME: text,
  EVENT_SOURCE: text.default("evse-ops"),
  EVENERGY_API_URL: httpUrl,
  EVENERGY_TOKEN_URL: httpUrl.optional(),
  EVENERGY_SCOPE: text.default("evse:read"),
  EVENERGY_SECRET_ID: text,
  STALENESS_MINUTES: positive.default(15),
  CHARGE_RATE_THRESHOLD_WATTS: wholeAtLeastZero.default(500),
  HEARTBEAT_MINUTES: positive.default(60),
  BUDGET_SHARE: z.coerce.number().gt(0).max(1, "must be in (0, 1]").default(0.8),
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
  /** How long each device's history entries are kept (DynamoDB TTL; reads ignore older ones). */
  HISTORY_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1, "must be a whole number of days ≥ 1")
    .default(90),
};

/** The webhook path's share is taken out of the poll's: it must leave the poll some. */
function webhookShareBelowBudgetShare(
  env: { WEBHOOK_BUDGET_SHARE: number; BUDGET_SHARE: number },
  ctx: z.RefinementCtx,
): void {
  if (env.WEBHOOK_BUDGET_SHARE >= env.BUDGET_SHARE) {
    ctx.addIssue({
      code: "custom",
      path: ["WEBHOOK_BUDGET_SHARE"],
      message: `must be less than BUDGET_SHARE (${env.BUDGET_SHARE}): the poll keeps the difference`,
    });
  }
}

const PollEnvironment = z
  .object({
    ...changeObserverFields,
    WEBHOOK_BUDGET_SHARE: webhookBudgetShare.default(0),
    RESERVE_REQUESTS: wholeAtLeastZero.default(50),
    /** Share of the last complete sweep's active fleet newly offline that degrades the fleet. */
    FLEET_DEGRADED_SHARE: z.coerce.number().gt(0).max(1, "must be in (0, 1]").default(0.2),
    /**
     * The poll switch's state while its table item (`CONTROL` / `POLL_PAUSE`) does not exist.
     * Infra always sets it (`poll.startPaused`, default true); false here keeps the sandbox and
     * the poll CLI running with nothing configured.
     */
    POLL_START_PAUSED: flag.default(false),
  })
  .superRefine(webhookShareBelowBudgetShare, { when: () => true });

export type PollEnvironment = z.infer<typeof PollEnvironment>;

/** What composing an ev.energy client needs of a function's settings. */
export type EvEnergyEnvironment = Pick<
  PollEnvironment,
  "EVENERGY_API_URL" | "EVENERGY_TOKEN_URL" | "EVENERGY_SCOPE" | "EVENERGY_REQUEST_TIMEOUT_MS"
>;

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

// ---------------------------------------------------------------- webhooks

/**
 * The webhook worker: the poll's detection settings and ev.energy access (read scope), its own
 * share of the budget (which must leave the poll some), its claims and its one retry.
 */
const WebhookWorkerEnvironment = z
  .object({
    ...changeObserverFields,
    WEBHOOK_BUDGET_SHARE: webhookBudgetShare.gt(0, "must be in (0, 1)"),
    /** How long after a sample older than the sub-session the one retry comes. */
    WEBHOOK_RETRY_DELAY_SECONDS: positive.default(60),
    /** Longer than the worker's timeout; shorter than the queue's visibility timeout. */
    WEBHOOK_CLAIM_LEASE_SECONDS: positive.default(120),
  })
  .superRefine(webhookShareBelowBudgetShare, { when: () => true });
export type WebhookWorkerEnvironment = z.infer<typeof WebhookWorkerEnvironment>;

export function loadWebhookWorkerEnvironment(env: Readonly<Record<string, string | undefined>>) {
  return parseEnvironment(WebhookWorkerEnvironment, env);
}

/** The public receiver: the signing secret's id, the queue, and the limits it enforces. */
const WebhookReceiverEnvironment = z.object({
  /** Secrets Manager secret: `{"current": "whsec_…", "previous": "whsec_…"}` (previous optional). */
  WEBHOOK_SECRET_ID: text,
  WEBHOOK_QUEUE_URL: text,
  /** How long the signing secrets are reused before they are read again (rotation lag). */
  WEBHOOK_SECRET_CACHE_SECONDS: z.coerce.number().min(0, "must be ≥ 0").default(60),
  /** Larger bodies are refused with 413 (ev.energy's are about 1 KB). */
  WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024, "must be at least 1024")
    .default(65_536),
});
export type WebhookReceiverEnvironment = z.infer<typeof WebhookReceiverEnvironment>;

export function loadWebhookReceiverEnvironment(env: Readonly<Record<string, string | undefined>>) {
  return parseEnvironment(WebhookReceiverEnvironment, env);
}

// ---------------------------------------------------------------- decommission

/** What every decommission function reads: the table, the bus and the pause switch. */
const DecommissionCommon = z.object({
  TABLE_NAME: text,
  EVENT_BUS_NAME: text,
  EVENT_SOURCE: text.default("evse-ops"),
  /** How long the pause switch's state is reused before it is read again. */
  PAUSE_CACHE_SECONDS: z.coerce.number().min(0, "must be ≥ 0").default(15),
  /** The switch's state while its table item does not exist (infra: `startPaused`). */
  DECOMMISSION_START_PAUSED: flag.default(false),
});
export type DecommissionCommonEnvironment = z.infer<typeof DecommissionCommon>;

/** The API function. */
const DecommissionApiEnvironment = DecommissionCommon.extend({
  /**
   * Comma-separated IAM role ARNs of the approver roles, path included, in one named account;
   * `*` and `?` only inside the role name (`AWSReservedSSO_Approver_????????????????`). The same
   * list the API's resource policy admits to the approve and reject routes.
   */
  APPROVER_ROLE_ARNS: text.transform((value) =>
    value
      .split(",")
      .map((pattern) => pattern.trim())
      .filter((pattern) => pattern !== ""),
  ),
  /** The KMS HMAC key the API signs approvals with (GenerateMac). */
  APPROVAL_KEY_ID: text,
  PENDING_EXPIRY_DAYS: positive.default(7),
  /** How long idempotency keys are kept; never less than a day. */
  IDEMPOTENCY_RETENTION_HOURS: z.coerce.number().min(24, "must be at least 24").default(24),
  /**
   * Whether the stage carries out approvals (infra: `decommission.executor.enabled`, always
   * set); false: approvals say they will fail without a DELETE.
   */
  EXECUTION_ENABLED: flag.default(true),
});
export type DecommissionApiEnvironment = z.infer<typeof DecommissionApiEnvironment>;

/**
 * The executor function (the only one holding the write credential). With EXECUTION_ENABLED
 * false (infra: `decommission.executor.enabled`, always set) it fails every approved request
 * without a DELETE and is given no write credential: EVENERGY_WRITE_SECRET_ID is then unset.
 */
const DecommissionExecutorEnvironment = DecommissionCommon.extend({
  EXECUTION_ENABLED: flag.default(true),
  EVENERGY_API_URL: httpUrl,
  EVENERGY_TOKEN_URL: httpUrl.optional(),
  EVENERGY_WRITE_SECRET_ID: text.optional(),
  EVENERGY_WRITE_SCOPE: text.default("evse:write"),
  /** The KMS HMAC key the executor verifies approvals with (VerifyMac). */
  APPROVAL_KEY_ID: text,
  EVENERGY_REQUEST_TIMEOUT_SECONDS: positive.default(10),
  EXECUTION_MAX_ATTEMPTS: z.coerce.number().int().min(1, "must be a whole number ≥ 1").default(8),
  EXECUTION_BACKOFF_SECONDS: positive.default(30),
  EXECUTION_MAX_BACKOFF_SECONDS: positive.default(900),
  /** Longer than one attempt can take (the function's timeout). */
  EXECUTION_LEASE_SECONDS: positive.default(300),
}).superRefine(
  (env, ctx) => {
    if (env.EXECUTION_ENABLED !== false && env.EVENERGY_WRITE_SECRET_ID === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["EVENERGY_WRITE_SECRET_ID"],
        message: "is not set (required while EXECUTION_ENABLED is true)",
      });
    }
  },
  // Reported with the other variables' problems, not only once they are fixed.
  { when: () => true },
);
export type DecommissionExecutorEnvironment = z.infer<typeof DecommissionExecutorEnvironment>;

/** The scheduled reconciler (and the dead-letter consumer). */
const DecommissionReconcilerEnvironment = DecommissionCommon.extend({
  RECONCILE_STALE_MINUTES: positive.default(15),
  REPUBLISH_WINDOW_HOURS: positive.default(24),
});
export type DecommissionReconcilerEnvironment = z.infer<typeof DecommissionReconcilerEnvironment>;

export function loadDecommissionApiEnvironment(env: Readonly<Record<string, string | undefined>>) {
  return parseEnvironment(DecommissionApiEnvironment, env);
}

export function loadDecommissionExecutorEnvironment(
  env: Readonly<Record<string, string | undefined>>,
) {
  return parseEnvironment(DecommissionExecutorEnvironment, env);
}

export function loadDecommissionReconcilerEnvironment(
  env: Readonly<Record<string, string | undefined>>,
) {
  return parseEnvironment(DecommissionReconcilerEnvironment, env);
}
