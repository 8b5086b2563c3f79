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

/**
 * Which items each function may touch, by partition key: the values IAM's
 * `dynamodb:LeadingKeys` is held to in each function's role (infra), so that one function's
 * bug or compromise cannot write another's items. A value ending in `*` is a prefix.
 * - `readWrite`: read and write (each function's actions are listed in infra);
 * - `read`: GetItem/Query only.
 */
export const ITEM_ACCESS = {
  /** Device states, the lease and checkpoint, the request ledger. Never a request. */
  poll: { readWrite: [DEVICE_PARTITION, POLL_PARTITION, LEDGER_PARTITION], read: [] },
  /** Requests, their pointers and guards, idempotency keys; reads the devices. */
  api: {
    readWrite: [
      REQUEST_PARTITION,
      `${REQUEST_BY_EVSE_PREFIX}*`,
      `${OPEN_GUARD_PREFIX}*`,
      `${IDEMPOTENCY_PREFIX}*`,
    ],
    read: [DEVICE_PARTITION],
  },
  /** Requests and guards; reads the pause switch; devices only through `DEVICE_COMPLETION`. */
  executor: { readWrite: [REQUEST_PARTITION, `${OPEN_GUARD_PREFIX}*`], read: [CONTROL_PARTITION] },
  /** The reconciler and the dead-letter function: requests and guards; reads the pause switch. */
  reconciler: {
    readWrite: [REQUEST_PARTITION, `${OPEN_GUARD_PREFIX}*`],
    read: [CONTROL_PARTITION],
  },
} as const;

/**
 * The executor's only access to device items: one UpdateItem, returning nothing, of exactly
 * these attributes (keys included, as IAM's `dynamodb:Attributes` requires), to mark a device
 * it deleted `decommissioned`.
 */
export const DEVICE_COMPLETION = {
  partition: DEVICE_PARTITION,
  attributes: [
    TABLE_KEYS.partitionKey,
    TABLE_KEYS.sortKey,
    "lifecycle",
    "lastChangedAt",
    "version",
  ],
} as const;
