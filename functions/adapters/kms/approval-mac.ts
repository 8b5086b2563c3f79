import { GenerateMacCommand, VerifyMacCommand } from "@aws-sdk/client-kms";
import type { ApprovalSigner, ApprovalVerifier } from "../../core/decommission/approval.js";

/** The part of KMSClient used here; tests hand in a fake through it. */
export interface MacClient {
  send(
    command: GenerateMacCommand | VerifyMacCommand,
  ): Promise<{ Mac?: Uint8Array | undefined; MacValid?: boolean | undefined }>;
}

const ALGORITHM = "HMAC_SHA_256";

/**
 * Approval signatures with a KMS HMAC key: the key never leaves KMS, and IAM decides who may
 * sign (the API: kms:GenerateMac) and who may verify (the executor: kms:VerifyMac).
 */
export class KmsApprovalMac implements ApprovalSigner, ApprovalVerifier {
  constructor(
    private readonly client: MacClient,
    private readonly keyId: string,
  ) {}

  async sign(message: string): Promise<string> {
    const { Mac } = await this.client.send(
      new GenerateMacCommand({
        KeyId: this.keyId,
        MacAlgorithm: ALGORITHM,
        Message: Buffer.from(message, "utf8"),
      }),
    );
    if (Mac === undefined) throw new Error("KMS GenerateMac returned no MAC");
    return Buffer.from(Mac).toString("base64");
  }

  async verify(message: string, mac: string): Promise<boolean> {
    const bytes = Buffer.from(mac, "base64");
    if (bytes.length === 0) return false;
    try {
      const { MacValid } = await this.client.send(
        new VerifyMacCommand({
          KeyId: this.keyId,
          MacAlgorithm: ALGORITHM,
          Message: Buffer.from(message, "utf8"),
          Mac: bytes,
        }),
      );
      return MacValid === true;
    } catch (error) {
      // KMS answers a MAC that does not verify with this exception, not with MacValid false.
      if (error instanceof Error && error.name === "KMSInvalidMacException") return false;
      throw error;
    }
  }
}
