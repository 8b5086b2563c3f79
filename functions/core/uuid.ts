import { createHash } from "node:crypto";

/**
 * A UUID-shaped id derived from `text` (its SHA-256): the same text always gives the same id, so
 * a republished event keeps its id, and consumers can store it in uuid-typed columns.
 */
export function uuidFromText(text: string): string {
  const hash = createHash("sha256").update(text).digest("hex");
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`;
}
