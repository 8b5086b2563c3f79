import type { SecretSource } from "../../functions/ports.js";
import { OffsetClock } from "../manual-clock.js";
import { Fleet } from "./fleet.js";
import { SimulatorServer } from "./server.js";
import type { Simulator, SimulatorOptions } from "./types.js";

export type * from "./types.js";

/** The defaults `SimulatorOptions` documents. */
export const SIMULATOR_DEFAULTS = {
  clientId: "sandbox-client",
  clientSecret: "sandbox-secret",
  staticToken: "sandbox-token",
  scopes: ["evse:read", "evse:write"],
  fleetSize: 200,
  seed: 1,
  rateLimit: 1000,
  tokenTtlSeconds: 36_000,
} as const;

/** The default client's credentials as the functions read them from Secrets Manager. */
export function defaultClientSecrets(tokenUrl?: string): SecretSource {
  const secret = JSON.stringify({
    client_id: SIMULATOR_DEFAULTS.clientId,
    client_secret: SIMULATOR_DEFAULTS.clientSecret,
    ...(tokenUrl ? { token_url: tokenUrl } : {}),
  });
  return { read: async () => secret };
}

/** Starts a simulated ev.energy on 127.0.0.1; `close()` it when done. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const clock = options.clock ?? new OffsetClock();
  const seed = options.seed ?? SIMULATOR_DEFAULTS.seed;
  const fleet = new Fleet({
    size: options.fleetSize ?? SIMULATOR_DEFAULTS.fleetSize,
    seed,
    clock,
    dynamic: options.dynamic ?? false,
    ...(options.restore ? { restore: options.restore } : {}),
  });
  return SimulatorServer.start({
    port: options.port ?? 0,
    seed,
    clock,
    fleet,
    clients: options.clients ?? [
      {
        clientId: SIMULATOR_DEFAULTS.clientId,
        clientSecret: SIMULATOR_DEFAULTS.clientSecret,
        scopes: [...SIMULATOR_DEFAULTS.scopes],
      },
    ],
    staticTokens: options.staticTokens ?? [
      { token: SIMULATOR_DEFAULTS.staticToken, scopes: [...SIMULATOR_DEFAULTS.scopes] },
    ],
    rateLimit: options.rateLimit ?? SIMULATOR_DEFAULTS.rateLimit,
    tokenTtlSeconds: options.tokenTtlSeconds ?? SIMULATOR_DEFAULTS.tokenTtlSeconds,
    faults: options.faults ?? {},
  });
}
