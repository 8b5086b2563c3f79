/**
 * The one table's key design, shared by the CDK construct, the local sandbox and the adapters.
 *
 * | item                | pk          | sk                        |
 * | ------------------- | ----------- | ------------------------- |
 * | device state        | `EVSE`      | EVSE id (ascending = listing order) |
 * | lease + checkpoint  | `POLL`      | `SWEEP`                   |
 * | request ledger      | `LEDGER`    | minute, `2026-11-24T19:40Z` |
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
