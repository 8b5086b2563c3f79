/**
 * Who may approve: IAM role ARN patterns such as `arn:aws:iam::*:role/approver*`, where `*`
 * stands for any run of characters and `?` for one. A caller matches by its role, so every
 * session of a matching role matches; users, root and federated users never do.
 */
import { type Principal, roleArnOf } from "./principal.js";

export class InvalidApproverPattern extends Error {
  override readonly name = "InvalidApproverPattern";
}

const PATTERN_SHAPE = /^arn:(aws(?:-[a-z]+)*|\*):iam::(\d{12}|\*):role\/([\w+=,.@*?-]{1,64})$/;

export interface ApproverPatterns {
  readonly sources: readonly string[];
  readonly matchers: readonly RegExp[];
}

/**
 * Compiles the configured patterns.
 * @throws InvalidApproverPattern naming the first pattern that is not `arn:PARTITION:iam::ACCOUNT:role/NAME`
 *   (wildcards allowed). A role path is refused: STS session ARNs never show it, so such a
 *   pattern could not match a session.
 */
export function compileApproverPatterns(patterns: readonly string[]): ApproverPatterns {
  if (patterns.length === 0) throw new InvalidApproverPattern("no approver pattern configured");
  const matchers = patterns.map((pattern) => {
    if (!PATTERN_SHAPE.test(pattern)) {
      throw new InvalidApproverPattern(
        `approver pattern "${pattern}" is not an IAM role ARN pattern without a path, such as arn:aws:iam::*:role/approver*`,
      );
    }
    const body = pattern
      .split("")
      .map((char) => (char === "*" ? ".*" : char === "?" ? "." : escapeRegex(char)))
      .join("");
    // IAM role names are unique regardless of case.
    return new RegExp(`^${body}$`, "i");
  });
  return { sources: [...patterns], matchers };
}

export function isApprover(principal: Principal, patterns: ApproverPatterns): boolean {
  const roleArn = roleArnOf(principal);
  if (roleArn === undefined) return false;
  return patterns.matchers.some((matcher) => matcher.test(roleArn));
}

function escapeRegex(char: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(char) ? `\\${char}` : char;
}
