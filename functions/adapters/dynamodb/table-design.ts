/**
 * The one table's key design, shared by the CDK construct, the local sandbox and the adapters.
 *
 * | item                | pk          | sk                        |
 * | ------------------- | ----------- | ------------------------- |
 * | device state        | `EVSE`      | EVSE id (ascending = listing order) |
 * | lease + checkpoint  | `POLL`      | `SWEEP`                   |
 * | request ledger      | `LEDGER`    | minute, `2026-11-24T19:40Z` |
 * | decommission request | `DCR`      | request id `dcr_<ULID>` (time-ordered); gsi1 `DCR_STATUS#<status>` / `<updatedAt>#<id>` |
 * | request-by-EVSE pointer | `DCR_EVSE#<evseId>` | request id |
 * | open-request guard  | `EVSE_OPEN#<evseId>` | `GUARD` (names the one open request) |
 * | idempotency key     | `IDEMPOTENCY#<caller>` | the key; TTL `expiresAt` (≥ 24 h) |
 * | pause switch        | `CONTROL`   | `DECOMMISSION_PAUSE` (`paused`: boolean) |
 *
 * Requests share one partition (decommissions are rare; ids sort by creation time); gsi1 lists
 * them by status, most recently changed first, which the reconciler also uses. A request's own
 * expiry is stored as `pendingExpiresAt`, never under the TTL attribute.
 *
 * Device items share one partition so a page of 100 listed EVSEs (ascending ids) is one Query
 * over its id range, which also returns the stored devices that vanished inside that range.
 */
export const TABLE_KEYS = { partitionKey: "pk", sortKey: "sk" } as const;
export const GSI1 = { name: "gsi1", partitionKey: "gsi1pk", sortKey: "gsi1sk" } as const;
/** Expired ledger and idempotency items carry this (epoch seconds) for DynamoDB TTL. */
export const TTL_ATTRIBUTE = "expiresAt";

export const DEVICE_PARTITION = "EVSE";
export const POLL_PARTITION = "POLL";
export const SWEEP_SORT_KEY = "SWEEP";
export const LEDGER_PARTITION = "LEDGER";
export const REQUEST_PARTITION = "DCR";
export const REQUEST_STATUS_PREFIX = "DCR_STATUS#";
export const REQUEST_BY_EVSE_PREFIX = "DCR_EVSE#";
export const OPEN_GUARD_PREFIX = "EVSE_OPEN#";
export const OPEN_GUARD_SORT_KEY = "GUARD";
export const IDEMPOTENCY_PREFIX = "IDEMPOTENCY#";
export const CONTROL_PARTITION = "CONTROL";
export const PAUSE_SORT_KEY = "DECOMMISSION_PAUSE";
