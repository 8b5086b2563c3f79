import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { SecretSource } from "../../ports.js";
import { CredentialsError } from "../ev-energy/errors.js";

/** The part of Powertools' `SecretsProvider` this source uses; tests hand in their own. */
export interface SecretValueProvider {
  get(
    name: string,
    options: { maxAge: number; forceFetch: boolean },
  ): Promise<string | Uint8Array | undefined>;
}

export interface SecretsManagerSecretSourceOptions {
  /** Name or ARN of the secret; `undefined` (unset configuration) fails at construction. */
  secretId: string | undefined;
  /** The setting `secretId` came from, named when it is missing. Default `EVENERGY_SECRET_ID`. */
  setting?: string;
  /** How long a read is reused. Default 300 s. */
  maxAgeSeconds?: number;
  /** Default: a Powertools `SecretsProvider` (its own in-memory cache). */
  provider?: SecretValueProvider;
}

/**
 * The ev.energy secret from AWS Secrets Manager, cached for `maxAgeSeconds` by Powertools so a
 * warm Lambda does not read it on every call; `read({ fresh: true })` (after a 401) bypasses
 * the cache.
 */
export class SecretsManagerSecretSource implements SecretSource {
  readonly #secretId: string;
  readonly #maxAgeSeconds: number;
  readonly #provider: SecretValueProvider;

  constructor(options: SecretsManagerSecretSourceOptions) {
    const setting = options.setting ?? "EVENERGY_SECRET_ID";
    if (options.secretId === undefined || options.secretId.trim() === "") {
      throw new CredentialsError(
        `ev.energy secret id is not configured: set ${setting} to the secret's name or ARN`,
      );
    }
    this.#secretId = options.secretId;
    this.#maxAgeSeconds = options.maxAgeSeconds ?? 300;
    this.#provider = options.provider ?? new SecretsProvider();
  }

  async read(options?: { fresh?: boolean }): Promise<string> {
    const value = await this.#provider.get(this.#secretId, {
      maxAge: this.#maxAgeSeconds,
      forceFetch: options?.fresh === true,
    });
    if (value === undefined) {
      throw new CredentialsError("ev.energy secret has no value in Secrets Manager");
    }
    if (typeof value !== "string") {
      throw new CredentialsError(
        "ev.energy secret is binary; store it as a JSON SecretString instead",
      );
    }
    return value;
  }
}
