/**
 * CSV (RFC 4180) for the fleet availability report: a header line, one line per row, CRLF line
 * ends. A text cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`) is prefixed
 * with `'`: cpids come from ev.energy, and a report is opened in spreadsheets.
 */

export type Cell = string | number | boolean | null;

export function toCsv(columns: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  return [columns.map(cell), ...rows.map((row) => row.map(cell))]
    .map((cells) => `${cells.join(",")}\r\n`)
    .join("");
}

function cell(value: Cell): string {
  if (value === null) return "";
  if (typeof value !== "string") return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * Whether the caller prefers CSV to JSON by its Accept header (q-values and wildcards
 * honoured; a tie is JSON); "none" when it accepts neither.
 */
export function prefersCsv(accept: string | undefined): boolean | "none" {
  if (accept === undefined || accept.trim() === "") return false;
  let json = 0;
  let csv = 0;
  for (const part of accept.split(",")) {
    const [range = "", ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const qParameter = parameters.find((parameter) => parameter.startsWith("q="));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    if (!Number.isFinite(q) || q < 0 || q > 1) continue;
    if (range === "*/*" || range === "application/*" || range === "application/json") {
      json = Math.max(json, q);
    }
    if (range === "*/*" || range === "text/*" || range === "text/csv") csv = Math.max(csv, q);
  }
  if (json === 0 && csv === 0) return "none";
  return csv > json;
}
