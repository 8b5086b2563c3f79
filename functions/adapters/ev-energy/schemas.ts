/**
 * The project's own schemas for the small part of the ev.energy v2 wire format it reads, and
 * the tolerant reader that turns a list item into a domain `Evse`.
 *
 * ev.energy calls v2 a beta that changes quickly, so an item is read field by field: one
 * missing or oddly typed field makes that field unknown (`undefined`) and is reported, while
 * the rest of the item, and the rest of the page, is kept. Only an item without a valid id is
 * dropped, since nothing can be keyed on it.
 */
import { z } from "zod";
import { EVSE_ID_PATTERN, type Evse, type StatusLog } from "../../core/evse.js";

export const EvseIdSchema = z.string().regex(EVSE_ID_PATTERN);
export const CpidSchema = z.string().min(1);
export const LockModeSchema = z.enum(["UNLOCKED", "SMART", "LOCKED"]).nullable();
export const TimestampSchema = z.iso
  .datetime({ offset: true })
  .refine((value) => Number.isFinite(Date.parse(value)));
const NullableBooleanSchema = z.boolean().nullable();
const NullableWattsSchema = z.number().nullable();
const UrlSchema = z.url();

/** RFC 9457 problem details plus ev.energy's `field_errors`; each field read on its own. */
export const ProblemSchema = z.looseObject({
  type: z.string().optional().catch(undefined),
  title: z.string().optional().catch(undefined),
  status: z.number().int().optional().catch(undefined),
  detail: z.string().optional().catch(undefined),
  instance: z.string().optional().catch(undefined),
  field_errors: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

/**
 * Printable ASCII without spaces: what an OAuth bearer token can be. Anything else would make
 * `fetch` throw an error that quotes the header value, i.e. the token.
 */
export const BEARER_TOKEN_PATTERN = /^[\x21-\x7E]+$/;

/** A successful OAuth2 token response (RFC 6749 §5.1). */
export const TokenResponseSchema = z.object({
  access_token: z.string().regex(BEARER_TOKEN_PATTERN),
  token_type: z.string().optional(),
  expires_in: z.number().positive().optional(),
  scope: z.string().optional(),
});

/** An OAuth2 error response (RFC 6749 §5.2); only the error code is ever reported. */
export const TokenErrorSchema = z.looseObject({ error: z.string().regex(/^[a-z_]{1,64}$/) });

/** A field the reader could not use: its JSON path and why. */
export interface FieldProblem {
  field: string;
  problem: "missing" | "invalid";
}

export interface ItemReading {
  evse: Evse;
  /** Fields that became unknown; the caller logs them with the EVSE id. */
  problems: FieldProblem[];
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads one field with its schema; a missing or invalid value becomes `undefined`. */
function readField<T>(
  source: JsonObject,
  key: string,
  schema: z.ZodType<T>,
  path: string,
  problems: FieldProblem[],
): T | undefined {
  if (!(key in source) || source[key] === undefined) {
    problems.push({ field: path, problem: "missing" });
    return undefined;
  }
  const parsed = schema.safeParse(source[key]);
  if (!parsed.success) {
    problems.push({ field: path, problem: "invalid" });
    return undefined;
  }
  return parsed.data;
}

/** The id of a raw item, or undefined when it has none that matches the API's pattern. */
export function readEvseId(raw: unknown): string | undefined {
  if (!isObject(raw)) return undefined;
  const parsed = EvseIdSchema.safeParse(raw.id);
  return parsed.success ? parsed.data : undefined;
}

/** An expanded status log; without a usable `sampled_at` the whole log is unknown. */
function readStatusLog(raw: JsonObject, problems: FieldProblem[]): StatusLog | undefined {
  const prefix = "latest_status_log";
  const sampledAt = readField(raw, "sampled_at", TimestampSchema, `${prefix}.sampled_at`, problems);
  if (sampledAt === undefined) return undefined;
  return {
    sampledAt,
    loggedAt: readField(raw, "logged_at", TimestampSchema, `${prefix}.logged_at`, problems),
    isPluggedIn: readField(
      raw,
      "is_plugged_in",
      NullableBooleanSchema,
      `${prefix}.is_plugged_in`,
      problems,
    ),
    isCharging: readField(
      raw,
      "is_charging",
      NullableBooleanSchema,
      `${prefix}.is_charging`,
      problems,
    ),
    chargeRateWatts: readField(
      raw,
      "charge_rate_watts",
      NullableWattsSchema,
      `${prefix}.charge_rate_watts`,
      problems,
    ),
    exportPowerWatts: readField(
      raw,
      "export_power_watts",
      NullableWattsSchema,
      `${prefix}.export_power_watts`,
      problems,
    ),
  };
}

/**
 * Reads one EVSE item tolerantly.
 * 1. No valid `id` → `undefined` (the caller drops and counts it).
 * 2. `cpid` and `lock_mode` are read on their own; a bad one becomes `undefined`.
 * 3. `latest_status_log`: an object is read as a status log, a URL string is kept as
 *    `latestStatusLogUrl` (log unknown), `null` stays `null`; anything else is unknown.
 */
export function readEvseItem(raw: unknown): ItemReading | undefined {
  const id = readEvseId(raw);
  if (id === undefined || !isObject(raw)) return undefined;
  const problems: FieldProblem[] = [];
  const evse: Evse = {
    id,
    cpid: readField(raw, "cpid", CpidSchema, "cpid", problems),
    lockMode: readField(raw, "lock_mode", LockModeSchema, "lock_mode", problems),
  };
  const log = raw.latest_status_log;
  if (log === null) {
    evse.latestStatusLog = null;
  } else if (typeof log === "string" && UrlSchema.safeParse(log).success) {
    evse.latestStatusLog = undefined;
    evse.latestStatusLogUrl = log;
  } else if (isObject(log)) {
    evse.latestStatusLog = readStatusLog(log, problems);
    const url = log.url;
    if (typeof url === "string" && UrlSchema.safeParse(url).success) evse.latestStatusLogUrl = url;
  } else {
    problems.push({
      field: "latest_status_log",
      problem: log === undefined ? "missing" : "invalid",
    });
    evse.latestStatusLog = undefined;
  }
  return { evse, problems };
}
