import { describe, expect, it } from "vitest";
import {
  compileApproverPatterns,
  InvalidApproverPattern,
  isApprover,
} from "../../functions/core/decommission/approvers.js";
import {
  InvalidPrincipal,
  parsePrincipal,
  personOf,
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
  it("names the person: a session's name, a user's name, a federated user's name", () => {
    expect(personOf(p("arn:aws:sts::111111111111:assumed-role/ops/Alice"))).toBe("alice");
    expect(personOf(p("arn:aws:iam::111111111111:user/people/Alice"))).toBe("alice");
    expect(personOf(p("arn:aws:sts::111111111111:federated-user/Alice"))).toBe("alice");
    // Forms that name no person.
    expect(personOf(p("arn:aws:iam::111111111111:root"))).toBeUndefined();
    expect(personOf(p("arn:aws:iam::111111111111:role/ops"))).toBeUndefined();
  });

  it("counts two names as two people, whatever roles they share", () => {
    expect(
      samePerson(
        p("arn:aws:sts::111111111111:assumed-role/ops/alice"),
        p("arn:aws:sts::111111111111:assumed-role/ops/bob"),
      ),
    ).toBe(false);
    expect(
      samePerson(
        p("arn:aws:sts::111111111111:assumed-role/approver/mallory"),
        p("arn:aws:sts::111111111111:assumed-role/approver/mallory-2"),
      ),
    ).toBe(false);
  });

  it("counts one name as one person whatever the role, path, ARN form, account or case", () => {
    const alice = p("arn:aws:sts::111111111111:assumed-role/requester/alice");
    for (const same of [
      "arn:aws:sts::111111111111:assumed-role/approver/alice",
      "arn:aws:sts::111111111111:assumed-role/OPS/Alice",
      "arn:aws:sts::222222222222:assumed-role/approver/ALICE",
      "arn:aws:iam::111111111111:user/alice",
      "arn:aws:iam::111111111111:user/people/alice",
      "arn:aws:sts::111111111111:federated-user/alice",
    ]) {
      expect(samePerson(alice, p(same))).toBe(true);
      expect(samePerson(p(same), alice)).toBe(true);
    }
  });

  it("counts a caller that names no person as anyone: when in doubt, the same person", () => {
    const alice = p("arn:aws:sts::111111111111:assumed-role/ops/alice");
    expect(samePerson(alice, p("arn:aws:iam::111111111111:role/ops"))).toBe(true);
    expect(samePerson(alice, p("arn:aws:iam::111111111111:root"))).toBe(true);
  });

  it("scopes idempotency keys to the caller as it called, whatever the case", () => {
    expect(principalKey(p("arn:aws:sts::111111111111:assumed-role/Ops/Alice"))).toBe(
      principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/alice")),
    );
    expect(principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/alice"))).not.toBe(
      principalKey(p("arn:aws:sts::111111111111:assumed-role/ops/bob")),
    );
  });
});

describe("approver roles", () => {
  const sandbox = compileApproverPatterns(["arn:aws:iam::111111111111:role/approver"]);
  const check = (arn: string, patterns = sandbox) => isApprover(parsePrincipal(arn), patterns);

  it("match every session of the role, whatever the case of its name", () => {
    expect(check("arn:aws:sts::111111111111:assumed-role/approver/alice")).toBe(true);
    expect(check("arn:aws:sts::111111111111:assumed-role/Approver/bob")).toBe(true);
  });

  it("do not match the role without a session, other roles, other accounts, users, root or federated users", () => {
    expect(check("arn:aws:iam::111111111111:role/approver")).toBe(false);
    expect(check("arn:aws:sts::111111111111:assumed-role/approver-2/alice")).toBe(false);
    expect(check("arn:aws:sts::111111111111:assumed-role/requester/approver")).toBe(false);
    expect(check("arn:aws:sts::222222222222:assumed-role/approver/alice")).toBe(false);
    expect(check("arn:aws-us-gov:sts::111111111111:assumed-role/approver/alice")).toBe(false);
    expect(check("arn:aws:iam::111111111111:user/approver")).toBe(false);
    expect(check("arn:aws:iam::111111111111:root")).toBe(false);
    expect(check("arn:aws:sts::111111111111:federated-user/approver")).toBe(false);
  });

  it("take a role path (which IAM checks) and ? wildcards for Identity Center's role suffix", () => {
    const patterns = compileApproverPatterns([
      "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/eu-west-2/AWSReservedSSO_Approver_????????????????",
      "arn:aws:iam::111111111111:role/ops/evse-ops-prod-approver",
    ]);
    expect(
      check(
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Approver_0123456789abcdef/alice@example.com",
        patterns,
      ),
    ).toBe(true);
    // A permission set whose name only starts like the approver one.
    expect(
      check(
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Approver_x_0123456789abcdef/eve",
        patterns,
      ),
    ).toBe(false);
    expect(
      check("arn:aws:sts::111111111111:assumed-role/evse-ops-prod-approver/bob", patterns),
    ).toBe(true);
  });

  it.each([
    [],
    // An account wildcard: any account's administrator could create a matching role.
    ["arn:aws:iam::*:role/evse-ops-approver*"],
    ["arn:*:iam::111111111111:role/approver"],
    ["arn:aws:iam::111111111111:user/approver"],
    ["approver*"],
    ["arn:aws:iam::12:role/approver"],
  ])("refuse the configuration %j", (...patterns) => {
    expect(() => compileApproverPatterns(patterns.flat())).toThrow(InvalidApproverPattern);
  });
});
