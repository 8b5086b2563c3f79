/**
 * The API's request schemas (strict: unknown fields are refused) and limits. The OpenAPI
 * document is generated from the same schemas (see openapi.ts).
 */
import { z } from "zod";
import { isTimeZone } from "../core/availability.js";
import { STATUSES } from "../core/decommission/model.js";
import { parseDuration } from "../core/duration.js";
import { EVSE_ID_PATTERN } from "../core/evse.js";

/** The handler refuses bodies over this many bytes with a 413. */
export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_REASON_LENGTH = 500;
export const MAX_COMMENT_LENGTH = 500;
export const MAX_EXTERNAL_REF_LENGTH = 200;
export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;

export const EvseIdSchema = z
  .string({ error: "must be a string" })
  .regex(EVSE_ID_PATTERN, {
    error: "must be evse followed by 26 upper-case letters or digits",
  })
  .meta({ example: "evse01JQBEYCCN0Z44RW00E6GZCE86" });

const text = (max: number) =>
  z
    .string({ error: "must be a string" })
    .trim()
    .min(1, { error: "must not be empty" })
    .max(max, { error: `must be at most ${max} characters` });

export const CreateRequestBody = z
  .strictObject({
    evseId: EvseIdSchema,
    reason: text(MAX_REASON_LENGTH).describe("Why the EVSE is to be decommissioned."),
    externalRef: text(MAX_EXTERNAL_REF_LENGTH)
      .optional()
      .describe("A reference in the calling system, e.g. a ticket id."),
  })
  .meta({ id: "CreateDecommissionRequest" });

/**
 * The decision bodies: an approval takes an optional `comment` (and `force`); a rejection takes
 * a `reason` (required); a cancellation an optional `reason`. Any other field is a 400 naming
 * it and the fields the call takes.
 */
export const ApproveBody = z
  .strictObject({
    comment: text(MAX_COMMENT_LENGTH)
      .optional()
      .describe("A note kept in the request's history, e.g. who confirmed it."),
    force: z
      .boolean({ error: "must be true or false" })
      .optional()
      .describe("Approve even if the device's last-seen state is charging."),
  })
  .meta({ id: "ApproveDecommissionRequest" });

export const RejectBody = z
  .strictObject({
    reason: text(MAX_REASON_LENGTH).describe(
      "Why the request is rejected (required), kept in its history.",
    ),
  })
  .meta({ id: "RejectDecommissionRequest" });

export const CancelBody = z
  .strictObject({
    reason: text(MAX_REASON_LENGTH)
      .optional()
      .describe("Why the requester withdraws it, kept in its history."),
  })
  .meta({ id: "CancelDecommissionRequest" });

const limit = z
  .string()
  .regex(/^\d{1,3}$/, { error: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` })
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, {
    error: `must be a whole number from 1 to ${MAX_PAGE_SIZE}`,
  })
  .optional();
const cursor = z.string().min(1, { error: "must not be empty" }).max(2048).optional();

export const ListRequestsQuery = z.strictObject({
  status: z.enum(STATUSES, { error: `must be one of ${STATUSES.join(", ")}` }).optional(),
  evseId: EvseIdSchema.optional(),
  limit,
  cursor,
});

export const LIFECYCLE_FILTERS = ["active", "removed", "decommissioned", "all"] as const;
/** The one connectivity indexed: listing online or unknown devices would read the whole fleet. */
export const CONNECTIVITY_FILTERS = ["offline"] as const;
export const SILENT_FOR_EXAMPLE = "P7D";
export const ListEvsesQuery = z.strictObject({
  lifecycle: z
    .enum(LIFECYCLE_FILTERS, { error: `must be one of ${LIFECYCLE_FILTERS.join(", ")}` })
    .optional(),
  connectivity: z
    .enum(CONNECTIVITY_FILTERS, {
      error:
        "must be offline: only offline chargers are indexed (listing online or unknown ones would read the whole fleet)",
    })
    .optional(),
  silentFor: z
    .string()
    .max(32, { error: "must be an ISO 8601 duration in days, hours and minutes, such as P7D" })
    .refine((value) => parseDuration(value) !== undefined, {
      error:
        "must be an ISO 8601 duration in days, hours and minutes, such as P7D, PT12H or P1DT6H",
    })
    .optional(),
  limit,
  cursor,
});

/** An instant: ISO 8601 with a time zone (`Z` or an offset). */
const instant = z.iso
  .datetime({
    offset: true,
    error: "must be an ISO 8601 date-time with a time zone, such as 2026-03-02T08:00:00Z",
  })
  .transform((value) => Date.parse(value));

export const HistoryQuery = z.strictObject({
  from: instant.optional(),
  to: instant.optional(),
  limit,
  cursor,
});

export const AvailabilityQuery = z.strictObject({
  from: instant.optional(),
  to: instant.optional(),
});

/** Rows of a fleet report page: a Lambda response is capped at 6 MB, a row is ~200 bytes. */
export const MAX_REPORT_ROWS = 5000;
export const FleetAvailabilityQuery = z.strictObject({
  month: z
    .string({ error: "is required: the month as YYYY-MM" })
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, { error: "must be a month as YYYY-MM, such as 2026-03" }),
  tz: z
    .string()
    .refine((zone) => isTimeZone(zone), {
      error: "must be an IANA time zone name, such as Europe/London",
    })
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: `must be a whole number from 1 to ${MAX_REPORT_ROWS}` })
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_REPORT_ROWS, {
      error: `must be a whole number from 1 to ${MAX_REPORT_ROWS}`,
    })
    .optional(),
  cursor,
});

export const NoQuery = z.strictObject({});

/** `Idempotency-Key`: printable ASCII without spaces, as most clients generate (UUIDs). */
export const IdempotencyKeySchema = z.string().regex(/^[\x21-\x7E]{1,255}$/, {
  error: "must be 1 to 255 printable ASCII characters without spaces (a UUID is a good key)",
});
