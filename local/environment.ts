/**
 * What `npm start`, `npm run poll` and the benchmark run against: the simulated ev.energy and
 * the embedded DynamoDB on 127.0.0.1 by default, or, with environment variables, a real
 * ev.energy account (`EVENERGY_API_URL` plus credentials) and another DynamoDB
 * (`DYNAMODB_ENDPOINT` plus `TABLE_NAME`).
 */
import {
  EnvironmentSecretSource,
  EVENERGY_ENV,
} from "../functions/adapters/secrets/environment-secret-source.js";
import {
  ConfigurationError,
  loadPollEnvironment,
  type PollEnvironment,
} from "../functions/config.js";
import type { ChangeEvent } from "../functions/core/device-state.js";
import type { FleetEvent } from "../functions/core/fleet-alert.js";
import { systemClock, systemRandom } from "../functions/lib/clock.js";
import { createPoller } from "../functions/poll-runtime.js";
import type { Clock, EventPublisher, Logger, SecretSource } from "../functions/ports.js";
import { createTable, localDynamoClients, startDynalite } from "./dynamodb.js";
import { OffsetClock } from "./manual-clock.js";
import type { FleetSnapshot } from "./simulator/fleet.js";
import { defaultClientSecrets, startSimulator } from "./simulator/index.js";
import type { SimClock, Simulator, SimulatorOptions } from "./simulator/types.js";
import { logLevelFrom } from "./stderr-logger.js";

export interface LocalEnvironmentOptions {
  env?: Readonly<Record<string, string | undefined>>;
  simulator?: Omit<SimulatorOptions, "clock">;
  /** The simulated clock, shared by the simulator and the poll. Default: an OffsetClock. */
  clock?: Clock & SimClock;
  /** Embedded DynamoDB port (0: any free port) and folder to persist to (default: memory). */
  dynamoPort?: number;
  dynamoPath?: string;
  /** A saved simulated fleet to go on from (the sandbox's, across restarts). */
  restore?: FleetSnapshot;
}

/**
 * Checks the environment variables before anything starts, throwing ConfigurationError (or
 * CredentialsError) naming what is wrong: LOG_LEVEL must be a level, a real ev.energy needs its credentials, credentials
 * need EVENERGY_API_URL, DYNAMODB_ENDPOINT and TABLE_NAME go together, and every poll setting
 * must be valid.
 */
export function checkLocalEnvironment(env: Readonly<Record<string, string | undefined>>): void {
  logLevelFrom(env);
  const set = (name: string) => env[name] !== undefined && env[name] !== "";
  if (set("EVENERGY_API_URL")) {
    new EnvironmentSecretSource(env);
  } else {
    const stray = Object.values(EVENERGY_ENV).filter(set);
    if (stray.length > 0) {
      throw new ConfigurationError(
        `${stray.join(", ")} ${stray.length > 1 ? "are" : "is"} set but EVENERGY_API_URL is not: set EVENERGY_API_URL to use them, or unset ${stray.length > 1 ? "them" : "it"} for the simulator`,
      );
    }
  }
  if (set("DYNAMODB_ENDPOINT") !== set("TABLE_NAME")) {
    const [given, missing] = set("TABLE_NAME")
      ? ["TABLE_NAME", "DYNAMODB_ENDPOINT"]
      : ["DYNAMODB_ENDPOINT", "TABLE_NAME"];
    throw new ConfigurationError(
      `${given} is set but ${missing} is not: set both to use another DynamoDB, or neither for the embedded one`,
    );
  }
  loadPollEnvironment({
    EVENT_BUS_NAME: "local",
    EVENERGY_SECRET_ID: "local",
    TABLE_NAME: "evse-ops-local",
    ...env,
    EVENERGY_API_URL: env.EVENERGY_API_URL || "http://127.0.0.1/v2",
  });
}

export interface LocalEnvironment {
  config: PollEnvironment;
  /** The variables `config` was read from, as a deployed stage sets them for every function. */
  settings: Readonly<Record<string, string | undefined>>;
  secrets: SecretSource;
  documents: ReturnType<typeof localDynamoClients>["documents"];
  /** The simulator's clock when simulated (so connectivity follows simulated time). */
  clock: Clock;
  simulator: Simulator | undefined;
  dynamoEndpoint: string;
  /** The poll as the Lambda composes it, over this environment. */
  createPoller(
    publisher: EventPublisher<ChangeEvent | FleetEvent>,
    logger: Logger,
  ): ReturnType<typeof createPoller>;
  close(): Promise<void>;
}

export async function startLocalEnvironment(
  options: LocalEnvironmentOptions = {},
): Promise<LocalEnvironment> {
  const env = options.env ?? process.env;
  checkLocalEnvironment(env);
  const closers: Array<() => Promise<void>> = [];
  try {
    let simulator: Simulator | undefined;
    let apiUrl = env.EVENERGY_API_URL;
    let secrets: SecretSource;
    let clock: Clock = systemClock;
    if (apiUrl) {
      secrets = new EnvironmentSecretSource(env);
      // Fail now, naming the variables, rather than at the first request.
      await secrets.read();
    } else {
      const simClock = options.clock ?? new OffsetClock();
      const started = await startSimulator({
        ...options.simulator,
        clock: simClock,
        ...(options.restore ? { restore: options.restore } : {}),
      });
      simulator = started;
      closers.push(() => started.close());
      apiUrl = started.apiBaseUrl;
      secrets = defaultClientSecrets(started.tokenUrl);
      clock = simClock;
    }

    let dynamoEndpoint = env.DYNAMODB_ENDPOINT || undefined;
    const tableName = env.TABLE_NAME || "evse-ops-local";
    if (!dynamoEndpoint) {
      const dynamo = await startDynalite({
        ...(options.dynamoPort !== undefined ? { port: options.dynamoPort } : {}),
        ...(options.dynamoPath ? { path: options.dynamoPath } : {}),
      });
      closers.push(() => dynamo.close());
      dynamoEndpoint = dynamo.endpoint;
    }
    const { client, documents } = localDynamoClients(dynamoEndpoint);
    closers.push(async () => client.destroy());
    if (!env.DYNAMODB_ENDPOINT) await createTable(client, tableName);

    const settings = {
      EVENT_BUS_NAME: "local",
      EVENERGY_SECRET_ID: "local",
      ...env,
      EVENERGY_API_URL: apiUrl,
      TABLE_NAME: tableName,
    };
    const config = loadPollEnvironment(settings);
    return {
      config,
      settings,
      secrets,
      documents,
      clock,
      simulator,
      dynamoEndpoint,
      createPoller: (publisher, logger) =>
        createPoller({
          config,
          secrets,
          documents,
          publisher,
          clock,
          random: systemRandom,
          logger,
        }),
      close: async () => {
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw error;
  }
}
