import { Webhook, WebhookVerificationError } from "svix";
import type { WebhookRequest, WebhookVerifier } from "../../core/webhooks/receive.js";
import type { Logger } from "../../ports.js";

/**
 * Svix's published verifier, never hand-written crypto: HMAC-SHA256 over
 * `{svix-id}.{svix-timestamp}.{raw body}` with the base64-decoded secret (`whsec_` removed),
 * compared in constant time with every `v1,` entry of `svix-signature`, and a timestamp more
 * than 5 minutes from the clock (Svix reads the real clock) refused. Each secret in force is
 * tried in turn, so a rotation's old and new secrets are both accepted while both are set.
 */
export class SvixSignatureVerifier implements WebhookVerifier {
  constructor(private readonly logger: Logger) {}

  verify(request: WebhookRequest, secrets: readonly string[]) {
    const messageId = request.headers["svix-id"];
    const headers = {
      "svix-id": messageId ?? "",
      "svix-timestamp": request.headers["svix-timestamp"] ?? "",
      "svix-signature": request.headers["svix-signature"] ?? "",
    };
    if (!messageId) return undefined;
    for (const secret of secrets) {
      let webhook: Webhook;
      try {
        webhook = new Webhook(secret);
      } catch {
        // Said without the value: a secret is never logged.
        this.logger.error("a configured webhook signing secret is not a whsec_ base64 key");
        continue;
      }
      try {
        webhook.verify(request.rawBody, headers);
      } catch (error) {
        if (error instanceof WebhookVerificationError) continue;
        throw error;
      }
      // Signed by ev.energy: a body that is not JSON goes on as text, for the worker to log.
      return { messageId, body: parseOrKeep(request.rawBody) };
    }
    return undefined;
  }
}

function parseOrKeep(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
