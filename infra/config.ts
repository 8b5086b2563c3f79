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
import {
  type ContextOverride,
  contextOverrides,
  type JsonValue,
  type LocalSettingsFile,
  mergePatch,
  parseOverrideValue,
  patchAt,
  patchSets,
  readLocalSettings,
} from "./local-settings.js";

const DEFAULT_STAGE = "dev";

/** The executor's timeout: one pre-flight GET and one DELETE, each with its request timeout. */
export const EXECUTOR_TIMEOUT_SECONDS = 60;
/** SQS redelivers a message after this: six times the executor's timeout, as AWS advises. */
export const EXECUTION_VISIBILITY_TIMEOUT_SECONDS = 6 * EXECUTOR_TIMEOUT_SECONDS;

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
  /**
   * The poll switch's state until an operator first writes it (the item `CONTROL` /
   * `POLL_PAUSE`): a new deployment waits, without failing or alarming, until its secrets are
   * filled and someone starts it. Later flips are data, so no deploy changes them.
   */
  startPaused: z.boolean({ error: "expected true or false" }).default(true),
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
  /** How long the bus archive keeps the app's events for replay. */
  archiveRetentionDays: wholeNumber(1, 3650).default(30),
});

const ACCOUNT_ID = /^\d{12}$/;

// An IAM role ARN with its path and no wildcard: `arn:aws:iam::123456789012:role/ops/approver`.
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\x21-\x7E]*\/)?[\w+=,.@-]{1,64}$/;
// Identity Center permission set names (1–32 characters).
const PERMISSION_SET_NAME = /^[\w+=,.@-]{1,32}$/;

const approverRoleArn = z.string({ error: "expected an IAM role ARN" }).superRefine((arn, ctx) => {
  // Each refusal says why: a wildcard admits roles nobody here vets.
  if (/^arn:[^:]*:iam::[^:]*[*?]/.test(arn)) {
    ctx.addIssue({
      code: "custom",
      message:
        "expected a 12-digit account, not a wildcard: a wildcard account would admit roles of any AWS account",
    });
  } else if (/[*?]/.test(arn)) {
    ctx.addIssue({
      code: "custom",
      message:
        "expected an exact role ARN without * or ?: a pattern would admit any role whose name matches it, including roles created later by whoever may create roles",
    });
  } else if (!ROLE_ARN.test(arn)) {
    ctx.addIssue({
      code: "custom",
      message:
        "expected an IAM role ARN with its path, such as arn:aws:iam::123456789012:role/ops/approver",
    });
  }
});

const approversSchema = z
  .strictObject({
    /**
     * Create the role `evse-ops-<stage>-approver`: assumable by this account's IAM users only,
     * each under their own user name as session name, so approvals name a person.
     */
    createRole: z.boolean({ error: "expected true or false" }).default(true),
    /** IAM Identity Center permission sets whose users approve (AWS sets the session name). */
    identityCenterPermissionSets: z
      .array(
        z.string().regex(PERMISSION_SET_NAME, {
          error: "expected an IAM Identity Center permission set name (1–32 characters)",
        }),
        { error: "expected a list of permission set names" },
      )
      .default([]),
    /** Other approver roles, by exact ARN; their session names are not this stack's to pin. */
    roleArns: z.array(approverRoleArn, { error: "expected a list of IAM role ARNs" }).default([]),
    /** Required with `roleArns`: whoever holds such a role may choose their session name. */
    acknowledgeUnpinnedSessionNames: z.boolean({ error: "expected true or false" }).default(false),
  })
  .superRefine((approvers, ctx) => {
    if (approvers.roleArns.length > 0 && !approvers.acknowledgeUnpinnedSessionNames) {
      ctx.addIssue({
        code: "custom",
        path: ["roleArns"],
        message:
          "requires acknowledgeUnpinnedSessionNames: true: the stack does not control these roles' session names, so a holder of such a role can pick any session name and so approve their own request under another name",
      });
    }
    if (
      !approvers.createRole &&
      approvers.identityCenterPermissionSets.length === 0 &&
      approvers.roleArns.length === 0
    ) {
      ctx.addIssue({
        code: "custom",
        message:
          "expected at least one approver source: with createRole false and identityCenterPermissionSets and roleArns empty, nobody could approve a request",
      });
    }
  });
export type ApproverSettings = z.output<typeof approversSchema>;

const decommissionSchema = z.strictObject({
  /**
   * Accounts whose IAM principals the API's resource policy admits. Left out: the deploying
   * account only. Callers still need execute-api:Invoke in their own IAM policies.
   */
  allowedAccounts: z
    .array(z.string().regex(ACCOUNT_ID, { error: "expected a 12-digit AWS account id" }), {
      error: "expected a list of 12-digit AWS account ids",
    })
    .min(1, {
      error: "expected at least one account id (leave the setting out for the deploying account)",
    })
    .optional(),
  /** Also admit every principal of this AWS Organization (aws:PrincipalOrgID). */
  organizationId: z
    .string()
    .regex(/^o-[a-z0-9]{10,32}$/, {
      error: "expected an AWS Organizations id such as o-a1b2c3d4e5",
    })
    .optional(),
  /**
   * Who may approve (or reject) a request: the role this stack creates, Identity Center
   * permission sets, and exact role ARNs. Nobody may approve their own request.
   */
  approvers: approversSchema.prefault({}),
  /** A request nobody approved or rejected within this many days expires. */
  pendingExpiryDays: wholeNumber(1, 365).default(7),
  /** The pause switch's state until an operator first writes it; later flips are operational. */
  startPaused: z.boolean({ error: "expected true or false" }).default(false),
  /** How long a read of the pause switch is reused: a flip takes effect within this. */
  pauseCacheSeconds: wholeNumber(0, 300).default(15),
  /** How long an Idempotency-Key answers with the stored response. */
  idempotencyRetentionHours: wholeNumber(24, 720).default(24),
  api: z
    .strictObject({
      /** Stage-wide steady-state requests per second, and the burst above it. */
      throttleRatePerSecond: wholeNumber(1, 10_000).default(20),
      throttleBurst: wholeNumber(1, 5_000).default(40),
      /**
       * API Gateway writes logs only with a region-wide CloudWatch role set in its account
       * settings. `create` sets one (AWS::ApiGateway::Account); `existing` when the account
       * already has one (a landing zone, another app), which this app then must not overwrite.
       */
      accountLoggingRole: z
        .enum(["create", "existing"], {
          error: (issue) => `${missing(issue.input)}expected "create" or "existing"`,
        })
        .default("create"),
    })
    .prefault({}),
  executor: z
    .strictObject({
      /**
       * Whether approved requests are carried out (a DELETE at ev.energy). Off by default:
       * ev.energy serves sandbox and production accounts from one URL, so only the write
       * credential decides which chargers a DELETE removes, and a stage must opt in (prod
       * does in cdk.json). Off, requests and approvals work, the executor fails each approved
       * request without calling ev.energy, and it is given no write credential at all.
       */
      enabled: z.boolean({ error: "expected true or false" }).default(false),
      /** Calls to ev.energy at once: protects its rate limit (Lambda's minimum is 2). */
      maxConcurrency: wholeNumber(2, 1000).default(2),
      /** Attempts before a request fails (an unknown DELETE outcome is always verified first). */
      maxAttempts: wholeNumber(1, 50).default(8),
      backoffSeconds: wholeNumber(1, 3600).default(30),
      maxBackoffSeconds: wholeNumber(1, 43_200).default(900),
      /** One HTTP request to ev.energy; two must fit in the executor's 60 s timeout. */
      requestTimeoutSeconds: wholeNumber(1, 25).default(10),
      /** Receives of one message before it is dead-lettered (waits are receives too). */
      maxReceiveCount: wholeNumber(1, 1000).default(30),
    })
    .prefault({}),
  reconciler: z
    .strictObject({
      scheduleMinutes: wholeNumber(1, 60).default(5),
      /** An approved request with no progress this long past its due time is re-sent. */
      staleMinutes: wholeNumber(1, 1440).default(15),
      /** Ended requests changed this recently are checked for unpublished events. */
      republishWindowHours: wholeNumber(1, 168).default(24),
    })
    .prefault({}),
});
export type DecommissionSettings = z.output<typeof decommissionSchema>;

const fleetHealthSchema = z.strictObject({
  /** How long each device's history entries are kept (DynamoDB TTL on `expiresAt`). */
  historyRetentionDays: wholeNumber(1, 3650).default(90),
  /**
   * The share of the last complete sweep's active fleet that, newly offline within one sweep,
   * makes the one `EVSE Fleet Connectivity Degraded` event and its alarm.
   */
  degradedShare: z
    .number({ error: (issue) => `${missing(issue.input)}expected a number above 0 and ≤ 1` })
    .gt(0, { error: "expected a number above 0 and ≤ 1" })
    .lte(1, { error: "expected a number above 0 and ≤ 1" })
    .default(0.2),
});
export type FleetHealthSettings = z.output<typeof fleetHealthSchema>;

const webhooksSchema = z.strictObject({
  /**
   * The webhook path's share of ev.energy's hourly rate limit, taken out of poll.budgetShare:
   * the poll keeps the difference (README: Sweep period and the rate limit).
   */
  budgetShare: z
    .number({ error: (issue) => `${missing(issue.input)}expected a number above 0 and below 1` })
    .gt(0, { error: "expected a number above 0 and below 1" })
    .lt(1, { error: "expected a number above 0 and below 1" })
    .default(0.1),
  /** The webhook API's steady request rate (stage and method throttling). */
  throttleRatePerSecond: wholeNumber(1).default(20),
  throttleBurst: wholeNumber(1).default(40),
  /** The receiver's reserved concurrency: a flood cannot take the poll's or executor's. */
  receiverConcurrency: wholeNumber(1, 100).default(5),
  /** The worker's most concurrent batches (SQS event source maximum concurrency, ≥ 2). */
  workerMaxConcurrency: wholeNumber(2, 100).default(2),
  /** Bodies larger than this get 413. */
  maxBodyBytes: wholeNumber(1024, 1_048_576).default(65_536),
  /** How long the receiver reuses the signing secrets: a rotation takes effect within it. */
  secretCacheSeconds: wholeNumber(0, 3600).default(60),
  /** The one retry when a refreshed sample predates the sub-session. */
  retryDelaySeconds: wholeNumber(1, 900).default(60),
  /** Receives before a webhook message is dead-lettered. */
  maxReceiveCount: wholeNumber(2, 100).default(5),
  /** Alarm when no webhook verified for this long while the poll saw charging start. */
  silenceAlarmMinutes: wholeNumber(10, 1440).default(60),
});
export type WebhookSettings = z.output<typeof webhooksSchema>;

const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** Where alarms go: a topic this app creates, or an existing one. */
const alarmTopicSpec = z.union(
  [
    z.strictObject({ create: z.literal(true) }),
    z.strictObject({
      import: z.string().regex(SNS_TOPIC_ARN, { error: "expected an SNS topic ARN" }),
    }),
  ],
  { error: 'expected { "create": true } or { "import": "<SNS topic ARN>" }' },
);
export type AlarmTopicSpec = z.output<typeof alarmTopicSpec>;

const monitoringSchema = z.strictObject({
  alarmTopic: alarmTopicSpec.default({ create: true }),
  /** Subscribes this address to the alarm topic (the recipient must confirm once). */
  alarmEmail: z.email({ error: "expected an e-mail address" }).optional(),
  /** Alarm when no sweep of the whole fleet has completed for this long. */
  noCompleteSweepMinutes: wholeNumber(2, 1440).default(30),
  /** Alarm when ev.energy's rate-limit headers report fewer requests left than this. */
  rateLimitRemainingThreshold: wholeNumber(0).default(100),
  /** Alarm when decommission execution has been paused for this long (a forgotten switch). */
  pausedAlarmHours: wholeNumber(1, 24).default(24),
});
export type MonitoringSettings = z.output<typeof monitoringSchema>;

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
    decommission: decommissionSchema.prefault({}),
    monitoring: monitoringSchema.prefault({}),
    fleetHealth: fleetHealthSchema.prefault({}),
    webhooks: webhooksSchema.prefault({}),
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
    // One missed run must not alarm: the window has to hold at least two scheduled runs.
    if (stage.monitoring.noCompleteSweepMinutes < 2 * stage.poll.scheduleMinutes) {
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "noCompleteSweepMinutes"],
        message: `expected at least two schedule intervals (2 × poll.scheduleMinutes = ${2 * stage.poll.scheduleMinutes})`,
      });
    }
    const { executor, reconciler } = stage.decommission;
    if (executor.maxBackoffSeconds < executor.backoffSeconds) {
      ctx.addIssue({
        code: "custom",
        path: ["decommission", "executor", "maxBackoffSeconds"],
        message: `expected at least executor.backoffSeconds (${executor.backoffSeconds})`,
      });
    }
    if (executor.maxReceiveCount < executor.maxAttempts) {
      ctx.addIssue({
        code: "custom",
        path: ["decommission", "executor", "maxReceiveCount"],
        message: `expected at least executor.maxAttempts (${executor.maxAttempts}): every attempt is a receive`,
      });
    }
    // A redelivery comes only after the visibility timeout: "no progress" must mean more.
    if (reconciler.staleMinutes * 60 <= EXECUTION_VISIBILITY_TIMEOUT_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["decommission", "reconciler", "staleMinutes"],
        message: `expected more than the execution queue's visibility timeout (${EXECUTION_VISIBILITY_TIMEOUT_SECONDS} s)`,
      });
    }
    if (stage.webhooks.budgetShare >= stage.poll.budgetShare) {
      ctx.addIssue({
        code: "custom",
        path: ["webhooks", "budgetShare"],
        message: `expected less than poll.budgetShare (${stage.poll.budgetShare}): the poll keeps the difference`,
      });
    }
    if (stage.monitoring.rateLimitRemainingThreshold >= stage.poll.rateLimitDefault) {
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "rateLimitRemainingThreshold"],
        message: `expected less than poll.rateLimitDefault (${stage.poll.rateLimitDefault}), or the alarm could never clear`,
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

export interface LoadOptions {
  /**
   * The deployer's local settings file (`cdk.context.local.json`), merged over cdk.json's
   * stage when it exists. Only the CDK app's entry point passes it, so tests see cdk.json alone.
   */
  localSettingsFile?: string;
}

/**
 * Reads `stage` (default `dev`) and `stages` from the construct tree's context, with the local
 * settings file and the context's `stages.<stage>.<path>` keys (`-c`) merged over the stage.
 */
export function loadStageConfig(scope: IConstruct, options: LoadOptions = {}): StageConfig {
  const file =
    options.localSettingsFile === undefined
      ? undefined
      : readLocalSettings(options.localSettingsFile);
  return parseStageConfig(scope.node.tryGetContext("stage"), scope.node.tryGetContext("stages"), {
    ...(file === undefined ? {} : { file }),
    overrides: contextOverrides(scope.node.getAllContext()),
  });
}

/** What is merged over cdk.json's stage, in this order (see local-settings.ts). */
export interface LocalLayers {
  /** The deployer's git-ignored settings file. */
  file?: LocalSettingsFile;
  /** `-c stages.<stage>.<path>=<value>`, applied last. */
  overrides?: readonly ContextOverride[];
}

/**
 * Validates one stage of the `stages` map.
 * 1. The stage name must be a string naming a key of `stages` (or of the local file's).
 * 2. The local file's settings for it, then the `-c` overrides, are merged over it (JSON merge
 *    patches: objects merge, other values replace, null removes).
 * 3. The result is parsed against the schema; defaults fill what it leaves out. A `-c` value
 *    read as JSON that the schema refuses at its own path is tried once more as text (a
 *    12-digit account id reads as a number).
 * 4. Any problem throws a ConfigError listing each path (`stages.<stage>.…`), what was
 *    expected, and the local file or `-c` key that set the value.
 */
export function parseStageConfig(
  stageInput: unknown,
  stagesInput: unknown,
  local: LocalLayers = {},
): StageConfig {
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
  const stages = stagesInput as Record<string, JsonValue>;
  const filePatch = local.file?.stages[stage];
  if (!Object.hasOwn(stages, stage) && filePatch === undefined) {
    const known = Object.keys(stages).join(", ") || "none";
    const localKnown = Object.keys(local.file?.stages ?? {});
    throw new ConfigError(
      `stages.${stage}: unknown stage "${stage}" (cdk.json defines: ${known}${
        local.file === undefined
          ? ""
          : `; ${local.file.name} defines: ${localKnown.join(", ") || "none"}`
      }); pick one with -c stage=<name>`,
    );
  }
  const overrides = (local.overrides ?? []).filter((override) => override.stage === stage);
  const fileLayer =
    local.file !== undefined && filePatch !== undefined
      ? [{ source: local.file.name, patch: filePatch }]
      : [];
  const attempt = (asText: ReadonlySet<ContextOverride>) => {
    const layers = [
      ...fileLayer,
      ...overrides.map((override) => ({
        source: `-c stages.${stage}.${override.path.join(".")}`,
        override,
        patch: patchAt(
          override.path,
          asText.has(override) ? String(override.value) : parseOverrideValue(override.value),
        ),
      })),
    ];
    const merged = layers.reduce<JsonValue | undefined>(
      (settings, layer) => mergePatch(settings, layer.patch),
      stages[stage],
    );
    return { layers, parsed: stageSchema.safeParse(merged) };
  };

  let { layers, parsed } = attempt(new Set());
  if (!parsed.success) {
    const refused = new Set(parsed.error.issues.map((issue) => issue.path.join(".")));
    const retry = new Set(
      overrides.filter(
        (override) =>
          typeof parseOverrideValue(override.value) !== "string" &&
          refused.has(override.path.join(".")),
      ),
    );
    if (retry.size > 0) ({ layers, parsed } = attempt(retry));
  }
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      // The last layer that set this value (or the section holding it) is where to fix it.
      const origin = [...layers].reverse().find((layer) => patchSets(layer.patch, issue.path));
      const line = formatIssue(`stages.${stage}`, issue);
      return origin === undefined ? line : `${line} (set in ${origin.source})`;
    });
    const sources = [...new Set(layers.map((layer) => layer.source))];
    const over =
      sources.length === 0
        ? ""
        : ` (${Object.hasOwn(stages, stage) ? "cdk.json" : "no stage in cdk.json"}, with ${sources.join(", then ")} merged over it)`;
    throw new ConfigError(
      `Invalid configuration for stage "${stage}"${over}:\n  ${lines.join("\n  ")}`,
    );
  }
  return { ...parsed.data, stage };
}

/**
 * Settings that no longer exist, by path below the stage, with what replaced them and why: a
 * stage still using one fails with that answer rather than a bare "unknown setting".
 */
const RETIRED_SETTINGS: Readonly<Record<string, string>> = {
  "decommission.approverPatterns":
    "replaced by decommission.approvers (createRole, identityCenterPermissionSets, roleArns): a role ARN pattern admitted every session of any matching role, whose holder chooses the session name and so could approve their own request under another name",
};

function formatIssue(prefix: string, issue: z.core.$ZodIssue): string {
  const path = [prefix, ...issue.path.map(String)].join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((key) => {
        const retired = RETIRED_SETTINGS[[...issue.path.map(String), key].join(".")];
        return `${path}.${key}: ${retired ?? "unknown setting"}`;
      })
      .join("\n  ");
  }
  return `${path}: ${issue.message}`;
}
