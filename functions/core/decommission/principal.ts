/**
 * Callers as people: API Gateway reports an IAM-authorised caller by ARN, most often an STS
 * assumed-role ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`). Every form is normalised
 * to (account, kind, name, session) so that "who asked" and "who approved" compare the same way
 * whichever form a caller arrives in.
 */

export type PrincipalKind = "assumed-role" | "role" | "user" | "root" | "federated-user";

export interface Principal {
  /** The ARN as the caller presented it. */
  arn: string;
  partition: string;
  account: string;
  kind: PrincipalKind;
  /** Role name (without path) for roles, user name for users, `root` for the account root. */
  name: string;
  /** The IAM path of a role or user when the ARN carries one (`/` when none); STS ARNs don't. */
  path: string | null;
  /** The role session name: who is behind an assumed role. Null for every other kind. */
  session: string | null;
}

export class InvalidPrincipal extends Error {
  override readonly name = "InvalidPrincipal";
}

const PARTITION = "aws(?:-[a-z]+)*";
const ACCOUNT = "\\d{12}";
// IAM names: letters, digits and +=,.@_- ; role and user names up to 64, sessions 2-64.
const NAME = "[\\w+=,.@-]{1,64}";
const SESSION = "[\\w+=,.@-]{2,64}";
const PATH = "(?:/[\\x21-\\x7E]+?)?/";

const FORMS: ReadonlyArray<{ pattern: RegExp; build: (m: RegExpExecArray) => PrincipalParts }> = [
  {
    pattern: new RegExp(
      `^arn:(${PARTITION}):sts::(${ACCOUNT}):assumed-role/(${NAME})/(${SESSION})$`,
    ),
    build: (m) => ({ kind: "assumed-role", name: m[3], path: null, session: m[4] }),
  },
  {
    pattern: new RegExp(`^arn:(${PARTITION}):iam::(${ACCOUNT}):role(${PATH})(${NAME})$`),
    build: (m) => ({ kind: "role", path: m[3], name: m[4], session: null }),
  },
  {
    pattern: new RegExp(`^arn:(${PARTITION}):iam::(${ACCOUNT}):user(${PATH})(${NAME})$`),
    build: (m) => ({ kind: "user", path: m[3], name: m[4], session: null }),
  },
  {
    pattern: new RegExp(`^arn:(${PARTITION}):iam::(${ACCOUNT}):root$`),
    build: () => ({ kind: "root", name: "root", path: null, session: null }),
  },
  {
    pattern: new RegExp(`^arn:(${PARTITION}):sts::(${ACCOUNT}):federated-user/(${NAME})$`),
    build: (m) => ({ kind: "federated-user", name: m[3], path: null, session: null }),
  },
];

interface PrincipalParts {
  kind: PrincipalKind;
  name: string | undefined;
  path: string | null | undefined;
  session: string | null | undefined;
}

/**
 * Parses a caller ARN.
 * @throws InvalidPrincipal when the ARN is none of the IAM/STS principal forms.
 */
export function parsePrincipal(arn: string): Principal {
  for (const form of FORMS) {
    const match = form.pattern.exec(arn);
    if (!match) continue;
    const parts = form.build(match);
    const [, partition, account] = match;
    if (partition === undefined || account === undefined || parts.name === undefined) break;
    return {
      arn,
      partition,
      account,
      kind: parts.kind,
      name: parts.name,
      path: parts.path ?? null,
      session: parts.session ?? null,
    };
  }
  throw new InvalidPrincipal("the caller is not an IAM or STS principal ARN");
}

/**
 * The person behind a caller: the name only that person has, lower-cased (IAM names are
 * unique regardless of case). An assumed role's session name, an IAM user's name, a federated
 * user's name. The role, its path, the ARN form and the account do not matter: alice through
 * the requester role and alice through the approver role are one person.
 * Undefined for the forms that name no person: the account root, and an IAM role ARN without a
 * session (every session of the role would match it).
 */
export function personOf(principal: Principal): string | undefined {
  switch (principal.kind) {
    case "assumed-role":
      return principal.session?.toLowerCase();
    case "user":
    case "federated-user":
      return principal.name.toLowerCase();
    default:
      return undefined;
  }
}

/**
 * Whether two callers are the same person: their person names match, whatever role or account
 * they came through. A side that names no person cannot be told apart from anyone, so it counts
 * as the same person: when in doubt, a self-approval is refused.
 */
export function samePerson(a: Principal, b: Principal): boolean {
  const first = personOf(a);
  const second = personOf(b);
  return first === undefined || second === undefined || first === second;
}

/**
 * The key idempotency records are scoped to: the caller's identity as it called (account, role
 * or user, session), case-insensitively, so one caller's retries find their key whatever case
 * the ARN arrives in.
 */
export function principalKey(principal: Principal): string {
  const kind = principal.kind === "assumed-role" ? "role" : principal.kind;
  const name = principal.name.toLowerCase();
  const session = principal.session?.toLowerCase() ?? "-";
  return `${principal.partition}:${principal.account}:${kind}:${name}:${session}`;
}
