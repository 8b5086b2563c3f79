import { describe, expect, it } from "vitest";
import { noticeTime, parseWebhook } from "../../functions/core/webhooks/notice.js";

const EVSE = "evse01HSH04KDEWF6Z4DB2J77J74K5";
const CSUB = "csub01HSH04KDEWF6Z4DB2J77J74K5";

function body(type: string, evse: unknown, end: string | null = null) {
  return {
    type,
    timestamp: "2026-03-02T08:14:00.344522Z",
    data: {
      id: CSUB,
      url: `https://api.ev.energy/v2/charging_sub_sessions/${CSUB}`,
      start: "2026-03-02T08:13:55Z",
      end,
      mode: "SMART",
      energy_delivered_watt_hours: 0,
      evse,
      somethingNew: { added: "by a later v2" },
    },
  };
}

describe("reading a verified webhook", () => {
  it("takes the EVSE id from the absolute URL ev.energy references it by", () => {
    const parsed = parseWebhook(
      body("charging_sub_session.created", `https://api.ev.energy/v2/evses/${EVSE}`),
    );
    expect(parsed).toEqual({
      ok: true,
      notice: {
        type: "charging_sub_session.created",
        subSessionId: CSUB,
        evseId: EVSE,
        start: "2026-03-02T08:13:55Z",
        end: null,
        occurredAt: "2026-03-02T08:14:00.344522Z",
      },
    });
  });

  it("takes the id of an expanded EVSE, and says there is nothing to refresh for a null one", () => {
    const expanded = parseWebhook(
      body("charging_sub_session.ended", { id: EVSE, cpid: "X" }, "2026-03-02T09:00:00Z"),
    );
    expect(expanded.ok && expanded.notice.evseId).toBe(EVSE);
    const none = parseWebhook(body("charging_sub_session.created", null));
    expect(none.ok && none.notice.evseId).toBeNull();
    const absent = parseWebhook(body("charging_sub_session.created", undefined));
    expect(absent.ok && absent.notice.evseId).toBeNull();
  });

  it("refuses other event types, reference shapes it cannot read, and missing fields", () => {
    expect(parseWebhook(body("charging_session.created", null)).ok).toBe(false);
    const foreign = parseWebhook(body("charging_sub_session.created", "https://x.test/evses/1"));
    expect(foreign).toEqual({ ok: false, problem: "data.evse names no EVSE id" });
    const noStart = body("charging_sub_session.created", null) as {
      data: Partial<{ start: string }>;
    };
    delete noStart.data.start;
    const problem = parseWebhook(noStart);
    expect(problem).toEqual({
      ok: false,
      problem: "not a charging sub-session webhook (data.start)",
    });
    expect(parseWebhook("not json at all").ok).toBe(false);
  });

  it("looks for a sample from the start of a created sub-session and the end of an ended one", () => {
    const created = parseWebhook(body("charging_sub_session.created", null));
    const ended = parseWebhook(body("charging_sub_session.ended", null, "2026-03-02T09:00:00Z"));
    if (!created.ok || !ended.ok) throw new Error("fixtures must parse");
    expect(noticeTime(created.notice)).toBe("2026-03-02T08:13:55Z");
    expect(noticeTime(ended.notice)).toBe("2026-03-02T09:00:00Z");
  });
});
