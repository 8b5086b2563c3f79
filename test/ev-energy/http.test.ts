import { describe, expect, it } from "vitest";
import {
  parseLinkHeader,
  parseRetryAfter,
  problemFromAnswer,
} from "../../functions/adapters/ev-energy/http.js";

describe("parseLinkHeader", () => {
  it("reads next and previous from ev.energy's documented example", () => {
    const links = parseLinkHeader(
      '<https://api.ev.energy/v2/vehicles?page_size=25&page_before=vhcl01HRFF3SEVSCRAV9B3CHVDFN0H>; rel="previous", <https://api.ev.energy/v2/vehicles?page_size=25&page_after=vhcl01HRFF3SEVSCRAV9B3CHVDFN0H>; rel="next"',
    );
    expect(links.get("next")).toBe(
      "https://api.ev.energy/v2/vehicles?page_size=25&page_after=vhcl01HRFF3SEVSCRAV9B3CHVDFN0H",
    );
    expect(links.get("previous")).toContain("page_before=");
  });

  it("handles unquoted rel, several rel values, extra params and commas inside quotes", () => {
    const links = parseLinkHeader(
      '<https://x/a?b=1,2>; title="a, b"; rel=next, </relative>; rel="prev previous"',
    );
    expect(links.get("next")).toBe("https://x/a?b=1,2");
    expect(links.get("prev")).toBe("/relative");
    expect(links.get("previous")).toBe("/relative");
  });

  it("keeps about:blank as the end marker and tolerates a missing or empty header", () => {
    expect(parseLinkHeader('<about:blank>; rel="next"').get("next")).toBe("about:blank");
    expect(parseLinkHeader(null).size).toBe(0);
    expect(parseLinkHeader("garbage").size).toBe(0);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
  });

  it("reads an HTTP-date relative to the injected clock, never negative", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
  });

  it("returns undefined for an absent or unreadable value", () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
  });
});

describe("problemFromAnswer", () => {
  it("keeps the fields of a problem+json body", () => {
    const problem = problemFromAnswer(
      {
        status: 422,
        headers: new Headers({ "content-type": "application/problem+json" }),
        text: JSON.stringify({
          type: "https://api.ev.energy/v2/problems/validation/",
          title: "Validation failed",
          status: 422,
          detail: "cpid is invalid",
          instance: "https://api.ev.energy/v2/evses",
          field_errors: { cpid: ["bad"] },
        }),
      },
      "GET /v2/evses",
    );
    expect(problem).toMatchObject({
      name: "EvEnergyProblem",
      status: 422,
      type: "https://api.ev.energy/v2/problems/validation/",
      title: "Validation failed",
      detail: "cpid is invalid",
      fieldErrors: { cpid: ["bad"] },
    });
    expect(problem.message).toBe(
      "ev.energy answered GET /v2/evses with 422 Validation failed: cpid is invalid",
    );
  });

  it("summarises a body that is not a problem without echoing it", () => {
    const body = `<html>${"x".repeat(5000)}</html>`;
    const problem = problemFromAnswer(
      { status: 502, headers: new Headers({ "content-type": "text/html" }), text: body },
      "GET /v2/evses",
    );
    expect(problem.status).toBe(502);
    expect(problem.message).toBe(
      "ev.energy answered GET /v2/evses with 502 (text/html, large body)",
    );
  });
});
