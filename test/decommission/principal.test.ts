import { describe, expect, it } from "vitest";
import {
  compileApproverPatterns,
  InvalidApproverPattern,
  isApprover,
} from "../../functions/core/decommission/approvers.js";
import {
  InvalidPrincipal,
  parsePrincipal,
  principalKey,
  samePerson,
} from "../../functions/core/decommission/principal.js";

describe("normalising caller ARNs", () => {
  it.each([
    [
      "arn:aws:sts::111111111111:assumed-role/approver/alice@example.com",
      {
        kind: "assumed-role",
        account: "111111111111",
        name: "approver",
        session: "alice@example.com",
        path: null,
      },
    ],
    [
      "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_0123456789abcdef/bob",
      { kind: "assumed-role", name: "AWSReservedSSO_Ops_0123456789abcdef", session: "bob" },
    ],
    [
      "arn:aws:iam::222222222222:role/ops/team/approver",
      {
        kind: "role",
        account: "222222222222",
        name: "approver",
        path: "/ops/team/",
        session: null,
      },
    ],
    ["arn:aws:iam::222222222222:role/approver", { kind: "role", name: "approver", path: "/" }],
    [
      "arn:aws:iam::333333333333:user/people/carol",
      { kind: "user", name: "carol", path: "/people/" },
    ],
    ["arn:aws:iam::333333333333:root", { kind: "root", name: "root", session: null }],
    ["arn:aws:sts::333333333333:federated-user/dave", { kind: "federated-user", name: "dave" }],
    ["arn:aws-us-gov:sts::111111111111:assumed-role/r/s1", { partition: "aws-us-gov", name: "r" }],
  ])("reads %s", (arn, expected) => {
    expect(parsePrincipal(arn)).toMatchObject({ arn, ...expected });
  });

  it.each([
    "",
    "arn:aws:sts::111111111111:assumed-role/approver",
    "arn:aws:sts::11111111111:assumed-role/approver/s1",
    "arn:aws:iam::111111111111:group/admins",
    "arn:aws:lambda:eu-west-2:111111111111:function:x",
    "arn:aws:sts::111111111111:assumed-role/approver/s1/extra",
    "arn:aws:sts::111111111111:assumed-role/approver/s",
    "arn:aws:iam::111111111111:role/",
    "not an arn",
  ])("refuses %j", (arn) => {
    expect(() => parsePrincipal(arn)).toThrow(InvalidPrincipal);
  });
});

describe("telling people apart", () => {
  const p = parsePrincipal;
  it("counts two sessions of one role as two people", () => {
    expect(
      samePerson(
        p("arn:aws:sts::111111111111:assumed-role/ops/alice"),
        p("arn:aws:sts::111111111111:assumed-role/ops/bob"),
      ),
    ).toBe(false);
  });

  it("counts one session as one person whatever the case or ARN form", () => {
    const alice = p("arn:aws:sts::111111111111:assumed-role/ops/alice");
    expect(samePerson(alice, p("arn:aws:sts::111111111111:assumed-role/OPS/Alice"))).toBe(true);
    // A role called by its IAM ARN has no session to tell it from alice: treated as her.
    expect(samePerson(alice, p("arn:aws:iam::111111111111:role/ops"))).toBe(true);
    expect(samePerson(alice, p("arn:aws:iam::111111111111:role/team/ops"))).toBe(true);
  });

  it("never confuses accounts, roles, users and roles of the same name", () => {
    const alice = p("arn:aws:sts::111111111111:assumed-role/ops/alice");
    expect(samePerson(alice, p("arn:aws:sts::222222222222:assumed-role/ops/alice"))).toBe(false);
    expect(samePerson(alice, p("arn:aws:sts::111111111111:assumed-role/dev/alice"))).toBe(false);
    expect(
      samePerson(p("arn:aws:iam::111111111111:user/ops"), p("arn:aws:iam::111111111111:role/ops")),
    ).toBe(false);
  });

  it("scopes idempotency keys to the person", () => {
    expect(principalKey(p("arn:aws:sts::111111111111:assumed-role/Ops/Alice"))).toBe(
      principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/alice")),
    );
    expect(principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/alice"))).not.toBe(
      principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/bob")),
    );
  });
});

describe("approver patterns", () => {
  const sandbox = compileApproverPatterns(["arn:aws:iam::*:role/approver*"]);
  const check = (arn: string, patterns = sandbox) => isApprover(parsePrincipal(arn), patterns);

  it("match a role and every session of it, in any account the pattern allows", () => {
    expect(check("arn:aws:iam::111111111111:role/approver")).toBe(true);
    expect(check("arn:aws:sts::111111111111:assumed-role/approver/alice")).toBe(true);
    expect(check("arn:aws:sts::999999999999:assumed-role/approver-emea/bob")).toBe(true);
    // The role's path is not part of the match: STS session ARNs never show it.
    expect(check("arn:aws:iam::111111111111:role/ops/approver")).toBe(true);
  });

  it("do not match other roles, users, root or federated users", () => {
    expect(check("arn:aws:iam::111111111111:role/requester")).toBe(false);
    expect(check("arn:aws:sts::111111111111:assumed-role/requester/approver")).toBe(false);
    expect(check("arn:aws:sts::111111111111:assumed-role/not-approver/x1")).toBe(false);
    expect(check("arn:aws:iam::111111111111:user/approver")).toBe(false);
    expect(check("arn:aws:iam::111111111111:root")).toBe(false);
    expect(check("arn:aws:sts::111111111111:federated-user/approver")).toBe(false);
  });

  it("honour fixed accounts and ? wildcards", () => {
    const patterns = compileApproverPatterns([
      "arn:aws:iam::111111111111:role/ops-approver-?",
      "arn:aws:iam::222222222222:role/Lead",
    ]);
    expect(check("arn:aws:sts::111111111111:assumed-role/ops-approver-1/a1", patterns)).toBe(true);
    expect(check("arn:aws:sts::111111111111:assumed-role/ops-approver-12/a1", patterns)).toBe(
      false,
    );
    expect(check("arn:aws:sts::222222222222:assumed-role/lead/a1", patterns)).toBe(true);
    expect(check("arn:aws:sts::333333333333:assumed-role/lead/a1", patterns)).toBe(false);
  });

  it.each([
    [],
    ["arn:aws:iam::*:user/approver"],
    ["arn:aws:iam::*:role/ops/approver"],
    ["approver*"],
    ["arn:aws:iam::12:role/approver"],
  ])("refuse the configuration %j", (...patterns) => {
    expect(() => compileApproverPatterns(patterns.flat())).toThrow(InvalidApproverPattern);
  });
});
