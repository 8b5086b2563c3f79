import type { SecretSource } from "../../ports.js";
import { CredentialsError } from "../ev-energy/errors.js";

/** The variables this source reads; documented here so the messages and README agree. */
export const EVENERGY_ENV = {
  accessToken: "EVENERGY_ACCESS_TOKEN",
  clientId: "EVENERGY_CLIENT_ID",
  clientSecret: "EVENERGY_CLIENT_SECRET",
  tokenUrl: "EVENERGY_TOKEN_URL",
} as const;

/**
 * ev.energy credentials from environment variables (the local sandbox pointed at the real API):
 * `EVENERGY_ACCESS_TOKEN`, or `EVENERGY_CLIENT_ID` + `EVENERGY_CLIENT_SECRET` (+ optional
 * `EVENERGY_TOKEN_URL`). It yields the same JSON shape as the Secrets Manager secret, so the
 * same parser reads both. Checked once, at construction: a half-configured environment fails
 * naming the missing variable.
 */
export class EnvironmentSecretSource implements SecretSource {
  readonly #secret: string;

  constructor(env: Readonly<Record<string, string | undefined>> = process.env) {
    const get = (name: string) => {
      const value = env[name];
      return value === undefined || value === "" ? undefined : value;
    };
    const accessToken = get(EVENERGY_ENV.accessToken);
    const clientId = get(EVENERGY_ENV.clientId);
    const clientSecret = get(EVENERGY_ENV.clientSecret);
    const tokenUrl = get(EVENERGY_ENV.tokenUrl);
    if (clientId !== undefined && clientSecret === undefined) {
      throw new CredentialsError(
        `${EVENERGY_ENV.clientId} is set but ${EVENERGY_ENV.clientSecret} is missing`,
      );
    }
    if (clientSecret !== undefined && clientId === undefined) {
      throw new CredentialsError(
        `${EVENERGY_ENV.clientSecret} is set but ${EVENERGY_ENV.clientId} is missing`,
      );
    }
    if (clientId === undefined && accessToken === undefined) {
      throw new CredentialsError(
        `ev.energy credentials are not configured: set ${EVENERGY_ENV.accessToken}, or ${EVENERGY_ENV.clientId} and ${EVENERGY_ENV.clientSecret}`,
      );
    }
    if (tokenUrl !== undefined && clientId === undefined) {
      throw new CredentialsError(
        `${EVENERGY_ENV.tokenUrl} is set but ${EVENERGY_ENV.clientId} and ${EVENERGY_ENV.clientSecret} are missing`,
      );
    }
    this.#secret = JSON.stringify({
      access_token: accessToken,
      client_id: clientId,
      client_secret: clientSecret,
      token_url: tokenUrl,
    });
  }

  async read(): Promise<string> {
    return this.#secret;
  }
}
