import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { z } from "zod";
import type { SigningSecrets } from "../../core/webhooks/receive.js";
import type { SecretValueProvider } from "./secrets-manager-secret-source.js";

/** The secret's JSON: the current `whsec_` key and, during a rotation, the previous one. */
const SecretShape = z.object({
  current: z.string().startsWith("whsec_"),
  previous: z.string().startsWith("whsec_").nullish(),
});

export class WebhookSecretError extends Error {
  override readonly name = "WebhookSecretError";
}

/**
 * The webhook signing secrets from Secrets Manager, reused for `maxAgeSeconds` (so a rotation
 * takes effect within that time, without a deploy). A malformed secret is an error that names
 * the expected shape, never the value.
 */
export class SecretsManagerSigningSecrets implements SigningSecrets {
  readonly #provider: SecretValueProvider;

  constructor(
    private readonly secretId: string,
    private readonly maxAgeSeconds: number,
    provider?: SecretValueProvider,
  ) {
    this.#provider = provider ?? new SecretsProvider();
  }

  async read(): Promise<string[]> {
    const value = await this.#provider.get(this.secretId, {
      maxAge: this.maxAgeSeconds,
      forceFetch: false,
    });
    return signingSecretsOf(value);
  }
}

/** The secrets in force from the stored value: current first, then previous if set. */
export function signingSecretsOf(value: string | Uint8Array | undefined): string[] {
  let parsed: unknown;
  try {
    parsed = typeof value === "string" ? JSON.parse(value) : undefined;
  } catch {
    parsed = undefined;
  }
  const shape = SecretShape.safeParse(parsed);
  if (!shape.success) {
    throw new WebhookSecretError(
      'webhook signing secret must be JSON {"current": "whsec_…", "previous": "whsec_…"} (previous optional)',
    );
  }
  const { current, previous } = shape.data;
  return previous ? [current, previous] : [current];
}
