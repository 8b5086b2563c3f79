/**
 * The public receiver's use case: verify first, then queue, and answer fast. Nothing about an
 * unverified request is stored, queued or logged (its body least of all): it only gets a 401.
 */
import type { Clock, Logger } from "../../ports.js";
import type { WebhookQueue } from "./ports.js";

/** One HTTP request as the receiver sees it: lower-case header names, the body as sent. */
export interface WebhookRequest {
  headers: Readonly<Record<string, string | undefined>>;
  rawBody: string;
}

/** Checks a request's Svix signature against the configured signing secrets. */
export interface WebhookVerifier {
  /**
   * The verified message (its `svix-id` and parsed body), or undefined when no secret verifies
   * it: missing headers, a timestamp more than 5 minutes off, no matching `v1,` signature.
   */
  verify(
    request: WebhookRequest,
    secrets: readonly string[],
  ): { messageId: string; body: unknown } | undefined;
}

/** The signing secrets in force: the current one and, during a rotation, the previous one. */
export interface SigningSecrets {
  read(): Promise<string[]>;
}

export interface ReceiverDependencies {
  verifier: WebhookVerifier;
  secrets: SigningSecrets;
  queue: WebhookQueue;
  clock: Clock;
  logger: Logger;
}

export type ReceiveOutcome =
  | { kind: "queued"; messageId: string }
  | { kind: "too-large"; limitBytes: number }
  | { kind: "unverified" }
  /** The secrets or the queue could not be reached: Svix retries later. */
  | { kind: "unavailable" };

/**
 * 1. Refuse a body over the limit before reading it further.
 * 2. Verify the signature with every secret in force (none verifies, or the Svix headers are
 *    missing: unverified).
 * 3. Queue the verified message for the worker, which does the rest asynchronously.
 */
export async function receiveWebhook(
  deps: ReceiverDependencies,
  request: WebhookRequest,
  settings: { maxBodyBytes: number },
): Promise<ReceiveOutcome> {
  if (Buffer.byteLength(request.rawBody, "utf8") > settings.maxBodyBytes) {
    return { kind: "too-large", limitBytes: settings.maxBodyBytes };
  }
  // Without the three headers nothing can verify: refused before the secret is even read, so a
  // flood of unsigned requests costs no Secrets Manager call.
  const { headers } = request;
  if (!headers["svix-id"] || !headers["svix-timestamp"] || !headers["svix-signature"]) {
    return { kind: "unverified" };
  }
  let secrets: string[];
  try {
    secrets = await deps.secrets.read();
  } catch (error) {
    deps.logger.error("webhook signing secrets could not be read", { error: nameOf(error) });
    return { kind: "unavailable" };
  }
  let verified: ReturnType<WebhookVerifier["verify"]>;
  try {
    verified = deps.verifier.verify(request, secrets);
  } catch (error) {
    // The verifier's own failure proves nothing about the request: it stays unverified.
    deps.logger.error("webhook signature check failed", { error: nameOf(error) });
    verified = undefined;
  }
  if (!verified) return { kind: "unverified" };
  try {
    await deps.queue.enqueue({
      messageId: verified.messageId,
      receivedAt: deps.clock.now(),
      body: verified.body,
    });
  } catch (error) {
    deps.logger.error("verified webhook could not be queued; Svix will retry it", {
      messageId: verified.messageId,
      error: nameOf(error),
    });
    return { kind: "unavailable" };
  }
  return { kind: "queued", messageId: verified.messageId };
}

/** An error's name only: messages of SDK errors can quote what they were given. */
function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : "unknown";
}
