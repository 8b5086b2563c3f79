import { describe, expect, it } from "vitest";
import { CredentialsError } from "../../functions/adapters/ev-energy/errors.js";
import { EnvironmentSecretSource } from "../../functions/adapters/secrets/environment-secret-source.js";
import {
  SecretsManagerSecretSource,
  type SecretValueProvider,
} from "../../functions/adapters/secrets/secrets-manager-secret-source.js";
import { caught } from "./helpers.js";

/** A provider with Powertools' caching semantics: reuse within maxAge unless forceFetch. */
class FakeSecretsProvider implements SecretValueProvider {
  fetches = 0;
  calls: { name: string; maxAge: number; forceFetch: boolean }[] = [];
  #cachedAt: number | undefined;
  now = 0;

  constructor(public value: string | Uint8Array | undefined) {}

  async get(name: string, options: { maxAge: number; forceFetch: boolean }) {
    this.calls.push({ name, ...options });
    const fresh = this.#cachedAt !== undefined && this.now - this.#cachedAt < options.maxAge * 1000;
    if (!fresh || options.forceFetch) {
      this.fetches += 1;
      this.#cachedAt = this.now;
    }
    return this.value;
  }
}

describe("SecretsManagerSecretSource", () => {
  it("reuses the value within maxAge and fetches again on a fresh read", async () => {
    const provider = new FakeSecretsProvider('{"access_token":"a"}');
    const source = new SecretsManagerSecretSource({ secretId: "evse-ops/ev-energy", provider });

    expect(await source.read()).toBe('{"access_token":"a"}');
    provider.now = 299_000;
    await source.read();
    expect(provider.fetches).toBe(1);
    await source.read({ fresh: true });
    expect(provider.fetches).toBe(2);
    expect(provider.calls).toEqual([
      { name: "evse-ops/ev-energy", maxAge: 300, forceFetch: false },
      { name: "evse-ops/ev-energy", maxAge: 300, forceFetch: false },
      { name: "evse-ops/ev-energy", maxAge: 300, forceFetch: true },
    ]);
  });

  it("passes a configured maxAge", async () => {
    const provider = new FakeSecretsProvider("{}");
    await new SecretsManagerSecretSource({ secretId: "s", maxAgeSeconds: 60, provider }).read();
    expect(provider.calls[0]?.maxAge).toBe(60);
  });

  it("fails at construction naming the setting when the secret id is missing", () => {
    expect(() => new SecretsManagerSecretSource({ secretId: undefined })).toThrow(
      new CredentialsError(
        "ev.energy secret id is not configured: set EVENERGY_SECRET_ID to the secret's name or ARN",
      ),
    );
    expect(() => new SecretsManagerSecretSource({ secretId: " ", setting: "SECRET_ARN" })).toThrow(
      /set SECRET_ARN/,
    );
  });

  it("rejects a binary or absent secret value", async () => {
    const binary = new SecretsManagerSecretSource({
      secretId: "s",
      provider: new FakeSecretsProvider(new Uint8Array([1, 2])),
    });
    expect(await caught(() => binary.read())).toMatchObject({
      name: "CredentialsError",
      message: "ev.energy secret is binary; store it as a JSON SecretString instead",
    });
    const absent = new SecretsManagerSecretSource({
      secretId: "s",
      provider: new FakeSecretsProvider(undefined),
    });
    expect(await caught(() => absent.read())).toBeInstanceOf(CredentialsError);
  });
});

describe("EnvironmentSecretSource", () => {
  it("builds the access token shape", async () => {
    const source = new EnvironmentSecretSource({ EVENERGY_ACCESS_TOKEN: "tok" });
    expect(JSON.parse(await source.read())).toEqual({ access_token: "tok" });
  });

  it("builds the client credentials shape with an optional token URL", async () => {
    const source = new EnvironmentSecretSource({
      EVENERGY_CLIENT_ID: "id",
      EVENERGY_CLIENT_SECRET: "secret",
      EVENERGY_TOKEN_URL: "https://auth.test/o/token/",
    });
    expect(JSON.parse(await source.read())).toEqual({
      client_id: "id",
      client_secret: "secret",
      token_url: "https://auth.test/o/token/",
    });
  });

  it.each([
    [
      { EVENERGY_CLIENT_ID: "id" },
      "EVENERGY_CLIENT_ID is set but EVENERGY_CLIENT_SECRET is missing",
    ],
    [
      { EVENERGY_CLIENT_SECRET: "secret" },
      "EVENERGY_CLIENT_SECRET is set but EVENERGY_CLIENT_ID is missing",
    ],
    [
      { EVENERGY_ACCESS_TOKEN: "" },
      "ev.energy credentials are not configured: set EVENERGY_ACCESS_TOKEN, or EVENERGY_CLIENT_ID and EVENERGY_CLIENT_SECRET",
    ],
    [
      { EVENERGY_ACCESS_TOKEN: "tok", EVENERGY_TOKEN_URL: "https://x" },
      "EVENERGY_TOKEN_URL is set but EVENERGY_CLIENT_ID and EVENERGY_CLIENT_SECRET are missing",
    ],
  ])("fails naming the missing variable for %j", (env, message) => {
    expect(() => new EnvironmentSecretSource(env)).toThrow(new CredentialsError(message));
  });

  it("never puts a value in its error", () => {
    let message = "";
    try {
      new EnvironmentSecretSource({ EVENERGY_CLIENT_SECRET: "hunter2" });
    } catch (error) {
      message = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
    }
    expect(message).toContain("EVENERGY_CLIENT_ID is missing");
    expect(message).not.toContain("hunter2");
  });
});
