/**
 * The project's own view of an ev.energy EVSE: the subset the poll and the decommission
 * executor use. ev.energy calls v2 a beta that changes quickly, so every field but `id` may be
 * unknown: `undefined` means "missing or shaped unexpectedly" (the reader logged a warning),
 * `null` means ev.energy itself said null.
 */
export type LockMode = "UNLOCKED" | "SMART" | "LOCKED";

/** An EVSE id as ev.energy's OpenAPI document defines it: `evse` + 26 upper-case letters or digits. */
export const EVSE_ID_PATTERN = /^evse[A-Z0-9]{26}$/;

export interface StatusLog {
  /** ISO 8601, when the charger sampled it. Required: a status log without it is unknown. */
  sampledAt: string;
  loggedAt?: string | undefined;
  isPluggedIn?: boolean | null | undefined;
  isCharging?: boolean | null | undefined;
  chargeRateWatts?: number | null | undefined;
  exportPowerWatts?: number | null | undefined;
}

export interface Evse {
  id: string;
  cpid?: string | undefined;
  lockMode?: LockMode | null | undefined;
  /**
   * The expanded latest status log; `null` when the EVSE has none; `undefined` when it is
   * unknown (not expanded, so only `latestStatusLogUrl` is set, or malformed).
   */
  latestStatusLog?: StatusLog | null | undefined;
  latestStatusLogUrl?: string | undefined;
}
