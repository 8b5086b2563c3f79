import { createHmac, timingSafeEqual } from "node:crypto";
import type { ApprovalSigner, ApprovalVerifier } from "../functions/core/decommission/approval.js";

/**
 * The sandbox's and the tests' stand-in for the KMS HMAC key: the same HMAC-SHA256, with a key
 * held in memory (the sandbox keeps its own under .sandbox/).
 */
export class HmacApprovalMac implements ApprovalSigner, ApprovalVerifier {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length < 32) throw new Error("an approval key needs at least 32 bytes");
    this.#key = Buffer.from(key);
  }

  async sign(message: string): Promise<string> {
    return createHmac("sha256", this.#key).update(message, "utf8").digest("base64");
  }

  async verify(message: string, mac: string): Promise<boolean> {
    const expected = createHmac("sha256", this.#key).update(message, "utf8").digest();
    const given = Buffer.from(mac, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
