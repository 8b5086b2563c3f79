import { ConfigurationError } from "../functions/config.js";
import type { Logger } from "../functions/ports.js";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LOG_LEVELS)[number];

/** LOG_LEVEL's value (default `warn`); anything else is refused, naming the allowed values. */
export function logLevelFrom(env: Readonly<Record<string, string | undefined>>): Level {
  const raw = env.LOG_LEVEL;
  if (raw === undefined || raw === "") return "warn";
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigurationError(
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(raw)}`,
    );
  }
  return level as Level;
}

/**
 * One JSON line per entry on stderr, so a command's stdout stays for its result. The level
 * comes from LOG_LEVEL (default `warn`); an unknown level is refused.
 */
export function stderrLogger(minimum: string = logLevelFrom(process.env)): Logger {
  const floor = LOG_LEVELS.indexOf(logLevelFrom({ LOG_LEVEL: minimum }));
  const at =
    (level: Level) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      if (LOG_LEVELS.indexOf(level) < floor) return;
      process.stderr.write(`${JSON.stringify(Object.assign({ level, message }, ...extra))}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
