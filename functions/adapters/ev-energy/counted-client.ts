/**
 * The ev.energy client as a function composes it: its own token provider on the function's
 * secret, every request (token exchanges and retries included) counted in one tally, so the
 * caller can say how much of the hourly budget it spent.
 */
import type { EvEnergyEnvironment } from "../../config.js";
import { RequestTally } from "../../lib/request-tally.js";
import type { Clock, Logger, Random, SecretSource } from "../../ports.js";
import { EvEnergyClient } from "./client.js";
import { AccessTokenProvider, defaultTokenUrl } from "./credentials.js";

export function countedEvEnergyClient(parts: {
  config: EvEnergyEnvironment;
  secrets: SecretSource;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Attempts per request: the poll retries, the webhook path leaves a failure to the poll. */
  maxAttempts: number;
}): { api: EvEnergyClient; tally: RequestTally } {
  const { config, clock, logger } = parts;
  const tally = new RequestTally();
  const tokens = new AccessTokenProvider({
    secrets: parts.secrets,
    clock,
    defaultTokenUrl: config.EVENERGY_TOKEN_URL ?? defaultTokenUrl(config.EVENERGY_API_URL),
    scope: config.EVENERGY_SCOPE,
    requestTimeoutMs: config.EVENERGY_REQUEST_TIMEOUT_MS,
    logger,
    onRequest: tally.observe,
  });
  const api = new EvEnergyClient({
    baseUrl: config.EVENERGY_API_URL,
    tokens,
    clock,
    random: parts.random,
    logger,
    maxAttempts: parts.maxAttempts,
    requestTimeoutMs: config.EVENERGY_REQUEST_TIMEOUT_MS,
    onRequest: tally.observe,
  });
  return { api, tally };
}
