/**
 * ev.energy's two webhooks, `charging_sub_session.created` and `.ended`, read as what they are
 * to us: a reason to look at one EVSE now, not a state. A sub-session is one charging-mode
 * period within a plug-in (a mode switch ends one and creates another), not proof that energy
 * flows, so the device's state always comes from a refresh of the EVSE, never from the body.
 * Plain TypeScript over zod; the project's own subset of the published schemas.
 */
import { z } from "zod";
import { EVSE_ID_PATTERN } from "../evse.js";

export const WEBHOOK_TYPES = [
  "charging_sub_session.created",
  "charging_sub_session.ended",
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

const isoTime = z.iso.datetime({ offset: true });

/** ev.energy references a resource by its absolute URL, or expands it into an object with an id. */
const EvseReference = z.union([z.string(), z.object({ id: z.string() }).loose()]).nullable();

// Loose: v2 is a beta that adds fields; only what the worker needs is checked.
const SubSession = z
  .object({
    id: z.string().regex(/^csub[A-Z0-9]{26}$/),
    start: isoTime,
    end: isoTime.nullable(),
    evse: EvseReference.optional(),
  })
  .loose();

const Envelope = z
  .object({ type: z.enum(WEBHOOK_TYPES), timestamp: isoTime, data: SubSession })
  .loose();

/** What the worker needs of one verified webhook. */
export interface WebhookNotice {
  type: WebhookType;
  subSessionId: string;
  /** The EVSE to refresh; null when ev.energy named none (nothing to refresh). */
  evseId: string | null;
  /** When the sub-session started and, for `ended`, ended. */
  start: string;
  end: string | null;
  /** The envelope's timestamp: when ev.energy says the event occurred. */
  occurredAt: string;
}

export type NoticeParse = { ok: true; notice: WebhookNotice } | { ok: false; problem: string };

/**
 * Reads a verified body. A body that is not one of the two webhooks, or whose `evse` is neither
 * null, an EVSE URL nor an expanded EVSE, is a problem (said without echoing the body).
 */
export function parseWebhook(body: unknown): NoticeParse {
  const parsed = Envelope.safeParse(body);
  if (!parsed.success) {
    const paths = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "body"))];
    return { ok: false, problem: `not a charging sub-session webhook (${paths.join(", ")})` };
  }
  const { type, timestamp, data } = parsed.data;
  const evseId = evseIdOf(data.evse ?? null);
  if (evseId === undefined) return { ok: false, problem: "data.evse names no EVSE id" };
  return {
    ok: true,
    notice: {
      type,
      subSessionId: data.id,
      evseId,
      start: data.start,
      end: data.end,
      occurredAt: timestamp,
    },
  };
}

/** The id of a referenced EVSE; null for no EVSE; undefined for a reference we cannot read. */
function evseIdOf(reference: z.infer<typeof EvseReference>): string | null | undefined {
  if (reference === null) return null;
  const candidate =
    typeof reference === "string" ? lastPathSegment(reference) : (reference.id ?? undefined);
  return candidate !== undefined && EVSE_ID_PATTERN.test(candidate) ? candidate : undefined;
}

function lastPathSegment(reference: string): string | undefined {
  try {
    return new URL(reference).pathname.split("/").filter(Boolean).at(-1);
  } catch {
    return undefined;
  }
}

/**
 * The time a refreshed sample must reach to show what the webhook announced: the sub-session's
 * start for `created`, its end for `ended` (a sample from before the end cannot show it).
 */
export function noticeTime(notice: WebhookNotice): string {
  return notice.type === "charging_sub_session.ended" && notice.end !== null
    ? notice.end
    : notice.start;
}
