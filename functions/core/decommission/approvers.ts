/**
 * Who may approve: the approver roles, given as IAM role ARNs of one named account, path
 * included (`arn:aws:iam::123456789012:role/evse-ops-prod-approver`). `*` and `?` may stand for
 * characters of the role name (Identity Center roles end in a 16-character suffix:
 * `AWSReservedSSO_Approver_????????????????`) and of the path, never for the account: a
 * wildcard account would let any account's administrator make a matching role.
 *
 * A caller matches as a session of such a role (`assumed-role`): the session name is the
 * person, and these roles pin it (their trust policy or AWS sets it). IAM users, root,
 * federated users and a role called without a session never match.
 *
 * The path is not compared here: an STS session ARN does not show it. Role names are unique
 * within an account whatever their path, and the API's resource policy, which IAM evaluates
 * with the full role ARN, admits the approve and reject routes only for these same ARNs.
 */
import type { Principal } from "./principal.js";

export class InvalidApproverPattern extends Error {
  override readonly name = "InvalidApproverPattern";
}

// arn:PARTITION:iam::ACCOUNT:role/ then an optional path ending in "/", then the role name.
const PATTERN_SHAPE =
  /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/((?:[\x21-\x7E]*\/)?)([\w+=,.@*?-]{1,64})$/;

interface ApproverRole {
  readonly partition: string;
  readonly account: string;
  readonly name: RegExp;
}

export interface ApproverPatterns {
  readonly sources: readonly string[];
  readonly roles: readonly ApproverRole[];
}

/**
 * Compiles the configured approver role ARNs.
 * @throws InvalidApproverPattern naming the first one that is not
 *   `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` with a 12-digit account.
 */
export function compileApproverPatterns(patterns: readonly string[]): ApproverPatterns {
  if (patterns.length === 0) throw new InvalidApproverPattern("no approver role configured");
  const roles = patterns.map((pattern) => {
    const match = PATTERN_SHAPE.exec(pattern);
    const [, partition, account, , name] = match ?? [];
    if (partition === undefined || account === undefined || name === undefined) {
      throw new InvalidApproverPattern(
        `approver role "${pattern}" is not an IAM role ARN of one account, such as arn:aws:iam::123456789012:role/evse-ops-prod-approver (an account wildcard would let any account's administrator create a matching role)`,
      );
    }
    const body = name
      .split("")
      .map((char) => (char === "*" ? ".*" : char === "?" ? "." : escapeRegex(char)))
      .join("");
    // IAM role names are unique regardless of case.
    return { partition, account, name: new RegExp(`^${body}$`, "i") };
  });
  return { sources: [...patterns], roles };
}

/** Whether the caller is a session of an approver role. */
export function isApprover(principal: Principal, patterns: ApproverPatterns): boolean {
  if (principal.kind !== "assumed-role" || principal.session === null) return false;
  return patterns.roles.some(
    (role) =>
      role.partition === principal.partition &&
      role.account === principal.account &&
      role.name.test(principal.name),
  );
}

function escapeRegex(char: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(char) ? `\\${char}` : char;
}
