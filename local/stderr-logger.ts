import type { Logger } from "../functions/ports.js";

const LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];

/**
 * One JSON line per entry on stderr, so a command's stdout stays for its result. The level
 * comes from LOG_LEVEL (default `warn`).
 */
export function stderrLogger(minimum: string = process.env.LOG_LEVEL ?? "warn"): Logger {
  const floor = Math.max(0, LEVELS.indexOf(minimum.toLowerCase() as Level));
  const at =
    (level: Level) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      if (LEVELS.indexOf(level) < floor) return;
      process.stderr.write(`${JSON.stringify(Object.assign({ level, message }, ...extra))}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
