/**
 * The deployment configuration: one typed, validated object per stage, read from the
 * `stages` map in cdk.json's context and chosen with `-c stage=<name>` (default `dev`).
 *
 * Every value is checked once here; a wrong or missing one stops synth with an error that
 * names its exact path (`stages.prod.poll.scheduleMinutes: expected a number ≥ 1`), so no
 * construct ever sees a half-valid setting. To add a knob: add it to the section's schema
 * (with a default when one value suits every stage), then to both stages in cdk.json.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IConstruct } from "constructs";
import { z } from "zod";

export const DEFAULT_STAGE = "dev";

/** A configuration that cannot be used; the message lists every offending path. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

// ---------------------------------------------------------------- value schemas

function expectation(min: number, max?: number): string {
  return max === undefined ? `≥ ${min}` : `from ${min} to ${max}`;
}

/** A whole number in range, e.g. minutes or a request count. */
function wholeNumber(min: number, max?: number) {
  const range = expectation(min, max);
  const base = z
    .number({ error: (issue) => `${missing(issue.input)}expected a number ${range}` })
    .int({ error: `expected a whole number ${range}` })
    .min(min, { error: `expected a number ${range}` });
  return max === undefined ? base : base.max(max, { error: `expected a number ${range}` });
}

function missing(input: unknown): string {
  return input === undefined ? "missing: " : "";
}

const httpsUrl = z.url({
  protocol: /^https$/,
  error: (issue) => `${missing(issue.input)}expected an https:// URL`,
});

const nonEmptyText = z
  .string({ error: (issue) => `${missing(issue.input)}expected a non-empty string` })
  .min(1, { error: "expected a non-empty string" });

/** The retention periods CloudWatch Logs accepts; "never expire" is deliberately not one. */
const LOG_RETENTION = new Map<number, RetentionDays>(
  Object.values(RetentionDays)
    .filter((days): days is RetentionDays => typeof days === "number")
    .filter((days) => days !== RetentionDays.INFINITE)
    .map((days) => [days, days]),
);
const logRetentionList = [...LOG_RETENTION.keys()].join(", ");

const logRetentionDays = z
  .number({
    error: (issue) =>
      `${missing(issue.input)}expected one of CloudWatch's retention periods in days: ${logRetentionList}`,
  })
  .transform((days, ctx) => {
    const retention = LOG_RETENTION.get(days);
    if (retention === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `expected one of CloudWatch's retention periods in days: ${logRetentionList}`,
      });
      return z.NEVER;
    }
    return retention;
  });

const removalPolicy = z
  .enum(["destroy", "retain"], {
    error: (issue) => `${missing(issue.input)}expected "destroy" or "retain"`,
  })
  .transform((policy) => (policy === "retain" ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY));

// A secret name (Secrets Manager's character set) or a Secrets Manager secret ARN.
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const SECRET_SPEC_EXPECTED = 'expected { "create": true } or { "import": "<secret name or ARN>" }';

/** Where one ev.energy credential lives: a secret this app creates, or an existing one. */
const secretSpec = z.union(
  [
    z.strictObject({ create: z.literal(true) }),
    z.strictObject({
      import: z.string().refine((value) => SECRET_ARN.test(value) || SECRET_NAME.test(value), {
        error: "expected a Secrets Manager secret name or a secret ARN",
      }),
    }),
  ],
  { error: SECRET_SPEC_EXPECTED },
);
export type SecretSpec = z.output<typeof secretSpec>;

// ---------------------------------------------------------------- sections

const evEnergySchema = z.strictObject({
  apiBaseUrl: httpsUrl.default("https://api.ev.energy/v2"),
  tokenUrl: httpsUrl.default("https://api.ev.energy/o/token/"),
  /** OAuth scope the poller asks for: it can read, never delete. */
  readScope: nonEmptyText.default("evse:read"),
  /** OAuth scope of the decommission path. */
  writeScope: nonEmptyText.default("evse:write"),
});
export type EvEnergySettings = z.output<typeof evEnergySchema>;

const secretsSchema = z
  .strictObject({
    read: secretSpec.default({ create: true }),
    /** Required unless `shareOneSecret`; defaults to a created secret. */
    write: secretSpec.optional(),
    /** The write path reuses the read secret (one ev.energy client for both scopes). */
    shareOneSecret: z.boolean({ error: "expected true or false" }).default(false),
  })
  .superRefine((secrets, ctx) => {
    if (secrets.shareOneSecret && secrets.write !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["write"],
        message: "must be left out when shareOneSecret is true (the read secret is used)",
      });
    }
  })
  .transform((secrets) =>
    secrets.shareOneSecret
      ? { read: secrets.read, shareOneSecret: true as const }
      : {
          read: secrets.read,
          write: secrets.write ?? { create: true as const },
          shareOneSecret: false as const,
        },
  );
export type SecretsSettings = z.output<typeof secretsSchema>;

const pollSchema = z.strictObject({
  /** How often EventBridge Scheduler starts a sweep. */
  scheduleMinutes: wholeNumber(1).default(5),
  /** A device whose latest sample is older than this is offline. */
  stalenessMinutes: wholeNumber(1).default(15),
  /** A charge rate above this counts as charging. */
  chargeRateThresholdWatts: wholeNumber(0).default(500),
  /** An unchanged device's state is refreshed at most this often. */
  heartbeatMinutes: wholeNumber(1).default(60),
  /** The share of ev.energy's hourly rate limit the poller may spend. */
  budgetShare: z
    .number({ error: (issue) => `${missing(issue.input)}expected a number above 0 and ≤ 1` })
    .gt(0, { error: "expected a number above 0 and ≤ 1" })
    .lte(1, { error: "expected a number above 0 and ≤ 1" })
    .default(0.8),
  /** Requests always left unspent for other callers (decommission, retries). */
  reserveRequests: wholeNumber(0).default(50),
  /** Hourly limit assumed until ev.energy's rate-limit headers say otherwise. */
  rateLimitDefault: wholeNumber(1).default(1000),
  /** The poll function's timeout; must end before the next scheduled run starts. */
  timeoutSeconds: wholeNumber(1, 900).default(240),
});
export type PollSettings = z.output<typeof pollSchema>;

const eventsSchema = z.strictObject({
  /** The `source` of every event the app publishes. */
  source: nonEmptyText
    .max(256, { error: "expected at most 256 characters" })
    .refine((source) => !source.startsWith("aws."), {
      error: 'must not start with "aws." (reserved for AWS services)',
    })
    .default("evse-ops"),
});

const envSchema = z.strictObject({
  account: z
    .string()
    .regex(/^\d{12}$/, { error: "expected a 12-digit AWS account id" })
    .optional(),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { error: "expected an AWS region such as eu-west-2" })
    .optional(),
});

const stageSchema = z
  .strictObject({
    /** Leave out to synthesise environment-agnostic templates. */
    env: envSchema.optional(),
    evEnergy: evEnergySchema.prefault({}),
    secrets: secretsSchema.prefault({}),
    poll: pollSchema.prefault({}),
    events: eventsSchema.prefault({}),
    /** No default: how long logs are kept is a per-stage decision. */
    logRetentionDays,
    /** No default: a stage must say whether its data outlives the stack. */
    removalPolicy,
  })
  .superRefine((stage, ctx) => {
    const intervalSeconds = stage.poll.scheduleMinutes * 60;
    if (stage.poll.timeoutSeconds >= intervalSeconds) {
      ctx.addIssue({
        code: "custom",
        path: ["poll", "timeoutSeconds"],
        message: `expected less than the schedule interval (poll.scheduleMinutes = ${stage.poll.scheduleMinutes}, i.e. ${intervalSeconds} s)`,
      });
    }
  });

/** One stage's validated settings. */
export type StageConfig = z.output<typeof stageSchema> & {
  /** The stage's name: the key under `stages`, used in resource and stack names. */
  readonly stage: string;
};

const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;

// ---------------------------------------------------------------- loading

/** Reads `stage` (default `dev`) and `stages` from the construct tree's context. */
export function loadStageConfig(scope: IConstruct): StageConfig {
  return parseStageConfig(scope.node.tryGetContext("stage"), scope.node.tryGetContext("stages"));
}

/**
 * Validates one stage of the `stages` map.
 * 1. The stage name must be a string naming a key of `stages`.
 * 2. That entry is parsed against the schema; defaults fill what it leaves out.
 * 3. Any problem throws a ConfigError listing each path (`stages.<stage>.…`) and what was expected.
 */
export function parseStageConfig(stageInput: unknown, stagesInput: unknown): StageConfig {
  const stage = stageInput ?? DEFAULT_STAGE;
  if (typeof stage !== "string" || !STAGE_NAME.test(stage)) {
    throw new ConfigError(
      `stage: expected a stage name of lower-case letters, digits and dashes (got ${JSON.stringify(stage)})`,
    );
  }
  if (typeof stagesInput !== "object" || stagesInput === null || Array.isArray(stagesInput)) {
    throw new ConfigError(
      'stages: missing: expected cdk.json\'s context to hold a "stages" object (see cdk.json)',
    );
  }
  const stages = stagesInput as Record<string, unknown>;
  if (!Object.hasOwn(stages, stage)) {
    const known = Object.keys(stages).join(", ") || "none";
    throw new ConfigError(
      `stages.${stage}: unknown stage "${stage}" (cdk.json defines: ${known}); pick one with -c stage=<name>`,
    );
  }
  const parsed = stageSchema.safeParse(stages[stage]);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => formatIssue(`stages.${stage}`, issue));
    throw new ConfigError(`Invalid configuration for stage "${stage}":\n  ${lines.join("\n  ")}`);
  }
  return { ...parsed.data, stage };
}

function formatIssue(prefix: string, issue: z.core.$ZodIssue): string {
  const path = [prefix, ...issue.path.map(String)].join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => `${path}.${key}: unknown setting`).join("\n  ");
  }
  return `${path}: ${issue.message}`;
}
