/**
 * The command lines of `npm start`, `npm run poll` and `npm run api`: flags checked before
 * anything starts, `--help` from the same description the README shows, and one boundary that
 * turns every expected failure into one line on stderr (no stack trace) and an exit code.
 */
import { parseArgs } from "node:util";
import { CredentialsError } from "../functions/adapters/ev-energy/errors.js";
import { ConfigurationError } from "../functions/config.js";
import { networkFailureReason } from "../functions/lib/network-failure.js";

/** A wrong flag, value or argument: exit 2 with the usage line. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Something the user can fix, said in one line (a lock held, a port taken): exit 1. */
export class CliError extends Error {
  override readonly name: string = "CliError";
}

export interface FlagSpec {
  type: "string" | "boolean";
  /** Placeholder of the value in the help, e.g. `N`. */
  value?: string;
  /** The environment variable that gives the default. */
  env?: string;
  default?: string;
  /** What the help says the default is, when it is not a fixed value. */
  shownDefault?: string;
  help: string;
}

export interface CommandSpec<F extends Record<string, FlagSpec>> {
  /** How the user runs it, e.g. `npm start --`. */
  run: string;
  /** What goes after `run` in the usage line, e.g. `[options]`. */
  synopsis: string;
  /** One paragraph, first in the help. */
  summary: string;
  flags: F;
  /** Lines after the options (commands, environment). */
  epilogue?: string;
  positionals?: boolean;
}

type Values<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K]["type"] extends "boolean" ? boolean : string | undefined;
};

export function usageLine(spec: CommandSpec<Record<string, FlagSpec>>): string {
  return `usage: ${spec.run} ${spec.synopsis}  (${spec.run} --help for more)`;
}

/** The help text: the summary, every flag with its default and variable, the epilogue. */
export function helpText(spec: CommandSpec<Record<string, FlagSpec>>): string {
  const rows = Object.entries(spec.flags).map(([name, flag]) => {
    const left = `--${name}${flag.value ? ` ${flag.value}` : ""}`;
    const extra = [
      (flag.shownDefault ?? flag.default) !== undefined
        ? `default ${flag.shownDefault ?? flag.default}`
        : undefined,
      flag.env ? `or ${flag.env}` : undefined,
    ].filter((part) => part !== undefined);
    return [left, `${flag.help}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`] as const;
  });
  rows.push(["--help", "print this and exit"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [
    `usage: ${spec.run} ${spec.synopsis}`,
    "",
    spec.summary,
    "",
    "options:",
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
  ];
  if (spec.epilogue) lines.push("", spec.epilogue);
  return `${lines.join("\n")}\n`;
}

/**
 * Parses `argv` against the spec; defaults come from the flag's variable in `env`, then its
 * default. `--help` anywhere returns `{ help: true }`. Throws UsageError naming what is wrong.
 */
export function parseCommandLine<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): { help: true } | { help: false; values: Values<F>; positionals: string[] } {
  if (argv.includes("--help") || argv.includes("-h")) return { help: true };
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([name, flag]) => [name, { type: flag.type }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      allowPositionals: spec.positionals === true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error, argv));
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    const given = parsed.values[name];
    if (flag.type === "boolean") {
      values[name] = given === true;
      continue;
    }
    const fromEnv = flag.env ? env[flag.env] : undefined;
    values[name] =
      typeof given === "string"
        ? given
        : fromEnv !== undefined && fromEnv !== ""
          ? fromEnv
          : flag.default;
  }
  return { help: false, values: values as Values<F>, positionals: parsed.positionals };
}

function describeParseError(error: unknown, argv: readonly string[]): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'(-[^' ]+)/.exec(message)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${quoted ?? message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return quoted !== undefined && /argument (missing|is ambiguous)/.test(message)
        ? `${quoted} needs a value`
        : `${quoted ?? "a flag"}: ${oneLine(message)}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL": {
      const argument = /'([^']*)'/.exec(message)?.[1] ?? argv.find((arg) => !arg.startsWith("-"));
      // `npm start --fleet 50` hands npm the flag and this script the bare value.
      return `unexpected argument ${JSON.stringify(argument ?? "")} (flags go after --, e.g. npm start -- --fleet 50)`;
    }
    default:
      return oneLine(message);
  }
}

/** `--name` as a whole number in [min, max]; names the flag (or its variable) when not. */
export function wholeNumber(
  name: string,
  raw: string | undefined,
  range: { min: number; max?: number; what?: string },
): number {
  const value = raw === undefined ? Number.NaN : Number(raw);
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (raw === undefined || !/^\s*\d+\s*$/.test(raw) || value < range.min || value > max) {
    const bounds = range.max === undefined ? `≥ ${range.min}` : `from ${range.min} to ${range.max}`;
    throw new UsageError(
      `${name} must be ${range.what ?? "a whole number"} ${bounds}, got ${JSON.stringify(raw ?? "")}`,
    );
  }
  return value;
}

/** `--name` as a number > 0 (decimals allowed). */
export function positiveNumber(name: string, raw: string | undefined): number {
  const value = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  if (!(Number.isFinite(value) && value > 0)) {
    throw new UsageError(`${name} must be a number > 0, got ${JSON.stringify(raw ?? "")}`);
  }
  return value;
}

/** Which flag or variable gave a value, for messages: `--fleet` or `SANDBOX_FLEET`. */
export function sourceOf(
  spec: CommandSpec<Record<string, FlagSpec>>,
  name: string,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const flag = spec.flags[name];
  const given = argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  if (!given && flag?.env && env[flag.env] !== undefined && env[flag.env] !== "") return flag.env;
  return `--${name}`;
}

/**
 * Runs a command's main at the CLI boundary: UsageError → the message and the usage line,
 * exit 2; configuration, credential and CliErrors → their one-line message, exit 1; anything
 * else → its name and message in one line (the stack only with LOG_LEVEL=debug), exit 1.
 */
export async function runCommand(
  spec: CommandSpec<Record<string, FlagSpec>>,
  main: () => Promise<number | undefined>,
  io: { stderr: (text: string) => void; exit: (code: number) => void } = {
    stderr: (text) => process.stderr.write(text),
    exit: (code) => {
      process.exitCode = code;
    },
  },
): Promise<void> {
  const prefix = spec.run.replace(/ --$/, "");
  try {
    const code = await main();
    if (code !== undefined) io.exit(code);
  } catch (error) {
    const { line, code, stack } = describeFailure(error);
    io.stderr(`${prefix}: ${line}\n`);
    if (code === 2) io.stderr(`${usageLine(spec)}\n`);
    if (stack !== undefined && (process.env.LOG_LEVEL ?? "").toLowerCase() === "debug") {
      io.stderr(`${stack}\n`);
    }
    io.exit(code);
  }
}

export function describeFailure(error: unknown): { line: string; code: number; stack?: string } {
  if (error instanceof UsageError) return { line: error.message, code: 2 };
  if (
    error instanceof ConfigurationError ||
    error instanceof CredentialsError ||
    error instanceof CliError
  ) {
    return { line: oneLine(error.message), code: 1 };
  }
  const { address, port, code } = error as { address?: unknown; port?: unknown; code?: unknown };
  if (typeof code === "string" && typeof address === "string" && typeof port === "number") {
    // A socket that could not connect (DynamoDB, a port): where, and why.
    return { line: `cannot reach ${address}:${port}: ${networkFailureReason(error)}`, code: 1 };
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${oneLine(error.cause.message)}` : "";
    return {
      line: `${error.name}: ${oneLine(error.message)}${cause} (LOG_LEVEL=debug shows where)`,
      code: 1,
      ...(error.stack ? { stack: error.stack } : {}),
    };
  }
  return { line: oneLine(String(error)), code: 1 };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ");
}
