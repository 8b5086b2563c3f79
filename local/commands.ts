/**
 * What `npm start`, `npm run poll` and `npm run api` accept, and the help each prints. The
 * README shows the same help texts (test/local/commands.test.ts keeps them equal).
 */
import {
  type CommandSpec,
  type FlagSpec,
  positiveNumber,
  sourceOf,
  UsageError,
  wholeNumber,
} from "./cli.js";

const ENVIRONMENT = [
  "environment:",
  "  EVENERGY_API_URL              poll a real ev.energy account instead of the simulator, e.g. https://api.ev.energy/v2",
  "  EVENERGY_CLIENT_ID, EVENERGY_CLIENT_SECRET",
  "                                its OAuth client (exchanged at EVENERGY_TOKEN_URL, default <origin>/o/token/)",
  "  EVENERGY_ACCESS_TOKEN         a bare access token instead (trials only: it expires after 10 hours)",
  "  EVENERGY_SCOPE                the scope to ask for, default evse:read",
  "  DYNAMODB_ENDPOINT, TABLE_NAME another DynamoDB (both or neither)",
  "  LOG_LEVEL                     debug, info, warn (default) or error: logs on stderr",
].join("\n");

export const SANDBOX_COMMAND = {
  run: "npm start --",
  synopsis: "[options]",
  summary: [
    "The whole product on this machine, nothing to configure: a simulated ev.energy whose fleet",
    "changes over simulated time, an embedded DynamoDB, the poll every few seconds (printing each",
    "change it detects) and the decommission API, all on 127.0.0.1. Data, simulated time and the",
    "simulated fleet persist in the data folder between runs; Ctrl-C stops it.",
  ].join("\n"),
  flags: {
    "api-port": {
      type: "string",
      value: "N",
      env: "SANDBOX_API_PORT",
      default: "3000",
      help: "the decommission API",
    },
    "simulator-port": {
      type: "string",
      value: "N",
      env: "SANDBOX_SIMULATOR_PORT",
      default: "3001",
      help: "the simulated ev.energy and its /_sim/ controls",
    },
    "dynamodb-port": {
      type: "string",
      value: "N",
      env: "SANDBOX_DYNAMODB_PORT",
      default: "3002",
      help: "the embedded DynamoDB (dynalite)",
    },
    "data-dir": {
      type: "string",
      value: "DIR",
      env: "SANDBOX_DATA_DIR",
      default: ".sandbox",
      help: "where data persists; one sandbox at a time per folder",
    },
    fleet: {
      type: "string",
      value: "N",
      env: "SANDBOX_FLEET",
      shownDefault: "the saved fleet's, else 200",
      help: "EVSEs in a new simulated fleet",
    },
    seed: {
      type: "string",
      value: "N",
      shownDefault: "the saved fleet's, else 1",
      help: "seed of a new simulated fleet",
    },
    "poll-seconds": {
      type: "string",
      value: "S",
      default: "5",
      help: "real seconds between polls",
    },
    "minutes-per-poll": {
      type: "string",
      value: "M",
      env: "SANDBOX_MINUTES_PER_POLL",
      default: "2",
      help: "simulated minutes between polls, a step every second",
    },
    reset: { type: "boolean", help: "start afresh: delete the data folder's data first" },
    "delete-real-chargers": {
      type: "boolean",
      help: "with EVENERGY_API_URL: let approved requests DELETE real chargers",
    },
  },
  epilogue: ENVIRONMENT,
} as const satisfies CommandSpec<Record<string, FlagSpec>>;

export interface SandboxSettings {
  ports: { api: number; simulator: number; dynamodb: number };
  dataDir: string;
  fleet: number | undefined;
  seed: number | undefined;
  pollSeconds: number;
  minutesPerPoll: number;
  reset: boolean;
  deleteRealChargers: boolean;
}

/** The sandbox's settings from parsed flags; a bad value is a UsageError naming its flag. */
export function sandboxSettings(
  values: Record<string, string | boolean | undefined>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): SandboxSettings {
  const named = (name: string) => sourceOf(SANDBOX_COMMAND, name, argv, env);
  const text = (name: string) => values[name] as string | undefined;
  const port = (name: string) =>
    wholeNumber(named(name), text(name), { min: 0, max: 65_535, what: "a port number" });
  const ports = {
    api: port("api-port"),
    simulator: port("simulator-port"),
    dynamodb: port("dynamodb-port"),
  };
  const taken = new Map<number, string>();
  for (const [name, value] of [
    ["api-port", ports.api],
    ["simulator-port", ports.simulator],
    ["dynamodb-port", ports.dynamodb],
  ] as const) {
    const other = taken.get(value);
    if (value !== 0 && other !== undefined) {
      throw new UsageError(
        `${named(name)} and ${named(other)} are both ${value}: give each its own port`,
      );
    }
    taken.set(value, name);
  }
  const dataDir = (text("data-dir") ?? "").trim();
  if (dataDir === "") throw new UsageError(`${named("data-dir")} must name a folder`);
  const optional = (name: string, max: number) =>
    text(name) === undefined ? undefined : wholeNumber(named(name), text(name), { min: 0, max });
  return {
    ports,
    dataDir,
    fleet: optional("fleet", 1_000_000),
    seed: optional("seed", 4_294_967_295),
    pollSeconds: positiveNumber(named("poll-seconds"), text("poll-seconds")),
    minutesPerPoll: positiveNumber(named("minutes-per-poll"), text("minutes-per-poll")),
    reset: values.reset === true,
    deleteRealChargers: values["delete-real-chargers"] === true,
  };
}

export const POLL_COMMAND = {
  run: "npm run poll --",
  synopsis: "[--once] [options]",
  summary: [
    "Runs exactly one poll with the same core as the Lambda and prints its summary as the last",
    "line of stdout (JSON; logs go to stderr). The exit code is 1 when the run ended on an error,",
    "and the summary is printed all the same. With nothing configured it polls an embedded",
    "simulator and DynamoDB of its own; the environment points it at real ones.",
  ].join("\n"),
  flags: {
    once: { type: "boolean", help: "one poll run (the only mode; accepted for clarity)" },
    fleet: {
      type: "string",
      value: "N",
      default: "200",
      help: "EVSEs in the embedded simulator",
    },
    seed: { type: "string", value: "N", default: "1", help: "seed of the embedded simulator" },
    "time-limit-seconds": {
      type: "string",
      value: "S",
      default: "240",
      help: "stop starting pages after this long, as the Lambda does",
    },
  },
  epilogue: ENVIRONMENT,
} as const satisfies CommandSpec<Record<string, FlagSpec>>;

export const API_COMMAND = {
  run: "npm run api --",
  synopsis: "<command> [arguments] [options]",
  summary: [
    "Calls the decommission API, signing each call with SigV4 (service execute-api) with the",
    "standard AWS credential chain (environment, profile, SSO, instance role): the caller is",
    "whoever those credentials are. Prints the answer's body; exits 0 for 2xx, 1 otherwise.",
    "",
    "commands:",
    '  request <evseId> --reason "…" [--external-ref REF] [--idempotency-key KEY]',
    '  approve <requestId> [--comment "…"] [--force]',
    '  reject <requestId> --reason "…"',
    '  cancel <requestId> [--reason "…"]',
    "  get <requestId>",
    "  list [--status STATUS] [--evse <evseId>] [--limit N] [--cursor CURSOR]",
    "  evses [--limit N] [--cursor CURSOR]",
    "  evse <evseId>",
  ].join("\n"),
  flags: {
    url: {
      type: "string",
      value: "URL",
      env: "EVSE_OPS_API_URL",
      help: "the API's base URL, e.g. https://abc123.execute-api.eu-west-2.amazonaws.com/prod",
    },
    region: {
      type: "string",
      value: "REGION",
      env: "AWS_REGION",
      help: "signing region (taken from an execute-api URL)",
    },
    profile: { type: "string", value: "NAME", help: "an AWS profile" },
    as: {
      type: "string",
      value: "ARN",
      help: "the local sandbox only: send this caller as X-Principal instead of signing",
    },
    reason: { type: "string", value: "TEXT", help: "request, reject, cancel: why" },
    comment: { type: "string", value: "TEXT", help: "approve: a note for the history" },
    force: { type: "boolean", help: "approve: even if the EVSE was last seen charging" },
    "external-ref": { type: "string", value: "REF", help: "request: your ticket or reference" },
    "idempotency-key": {
      type: "string",
      value: "KEY",
      help: "request: retry with the same key (default: a new UUID)",
    },
    status: { type: "string", value: "STATUS", help: "list: only requests in this status" },
    evse: { type: "string", value: "ID", help: "list: only requests for this EVSE" },
    limit: { type: "string", value: "N", help: "list, evses: page size (1-100)" },
    cursor: {
      type: "string",
      value: "CURSOR",
      help: "list, evses: the previous page's nextCursor",
    },
  },
  positionals: true,
} as const satisfies CommandSpec<Record<string, FlagSpec>>;
