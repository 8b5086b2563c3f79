/**
 * Opaque pagination cursors: base64url of a DynamoDB LastEvaluatedKey plus the listing it
 * belongs to. A cursor coming back is checked before it reaches DynamoDB: anything not issued
 * for this listing (tampered, truncated, from another listing) is an InvalidCursor (a 400),
 * never a DynamoDB validation error (a 500).
 */
import { InvalidCursor } from "../../core/decommission/errors.js";

type Key = Record<string, string>;

interface CursorBody {
  v: 1;
  /** Which listing issued it. */
  l: string;
  k: Key;
}

export function encodeCursor(listing: string, key: Record<string, unknown>): string {
  const strings: Key = {};
  for (const [name, value] of Object.entries(key)) strings[name] = String(value);
  const body: CursorBody = { v: 1, l: listing, k: strings };
  return Buffer.from(JSON.stringify(body), "utf8").toString("base64url");
}

/**
 * The key a cursor carries, if it was issued for `listing`, each of its attributes is exactly
 * one of `expected`, matching its pattern, and the key lies `within` the query's bounds (a key
 * outside them is a DynamoDB validation error: a forged cursor must be a 400, not a 500).
 * @throws InvalidCursor otherwise.
 */
export function decodeCursor(
  cursor: string,
  listing: string,
  expected: Readonly<Record<string, RegExp>>,
  within: (key: Key) => boolean = () => true,
): Key {
  if (cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursor();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursor();
  }
  if (!isRecord(body) || body.v !== 1 || body.l !== listing || !isRecord(body.k)) {
    throw new InvalidCursor();
  }
  const key = body.k;
  const names = Object.keys(key);
  if (names.length !== Object.keys(expected).length) throw new InvalidCursor();
  const result: Key = {};
  for (const name of names) {
    const pattern = expected[name];
    const value = key[name];
    if (pattern === undefined || typeof value !== "string" || !pattern.test(value)) {
      throw new InvalidCursor();
    }
    result[name] = value;
  }
  if (!within(result)) throw new InvalidCursor();
  return result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Anchors a fixed string as a pattern. */
export function exactly(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}
