/**
 * ISO 8601 durations in days, hours and minutes (`P7D`, `PT12H`, `P1DT2H30M`), as the silent-
 * charger listing takes them. Years, months and weeks are refused: their length depends on
 * the calendar; seconds are below what the poll can tell apart.
 */

const DURATION = /^P(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,7})M)?)?$/;
const MINUTE_MS = 60_000;

/** Milliseconds, or undefined when `text` is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const [, days, hours, minutes] = match;
  if (days === undefined && hours === undefined && minutes === undefined) return undefined;
  // `PT` alone, or a `T` with nothing after it, is not a duration.
  if (text.includes("T") && hours === undefined && minutes === undefined) return undefined;
  return (Number(days ?? 0) * 24 * 60 + Number(hours ?? 0) * 60 + Number(minutes ?? 0)) * MINUTE_MS;
}

/** The duration as ISO 8601 days, hours and minutes (`P8DT2H5M`; `PT0M` for less than a minute). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / MINUTE_MS));
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  const time = `${hours > 0 ? `${hours}H` : ""}${minutes > 0 ? `${minutes}M` : ""}`;
  if (days > 0) return `P${days}D${time ? `T${time}` : ""}`;
  return `PT${time || "0M"}`;
}
