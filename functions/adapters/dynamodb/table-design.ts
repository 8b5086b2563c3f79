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
 * | poll switch         | `CONTROL`   | `POLL_PAUSE` (`paused`: boolean) |
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
export const POLL_PAUSE_SORT_KEY = "POLL_PAUSE";

/** The item-level DynamoDB actions a function may be given (never Scan, PartiQL, batch writes). */
export type ItemAction =
  | "GetItem"
  | "BatchGetItem"
  | "Query"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem";

/**
 * What each function may do to which items, by partition key (a trailing `*` is a prefix):
 * the values IAM's `dynamodb:LeadingKeys` is held to in each function's role (infra), with only
 * the actions its code uses there, so one function's bug or compromise cannot write another's
 * items, nor erase a request's audit trail.
 */
export const ITEM_ACCESS = {
  /**
   * Device states (read a page's range, read one, write a new version), the lease and
   * checkpoint, the ledger; reads its switch (`CONTROL` / `POLL_PAUSE`), never writes one.
   * Never a request.
   */
  poll: {
    [DEVICE_PARTITION]: ["GetItem", "Query", "PutItem"],
    [POLL_PARTITION]: ["UpdateItem"],
    [LEDGER_PARTITION]: ["UpdateItem", "Query"],
    [CONTROL_PARTITION]: ["GetItem"],
  },
  /** Requests, their pointers and guards, idempotency keys; reads the devices. */
  api: {
    [REQUEST_PARTITION]: ["GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"],
    [`${REQUEST_BY_EVSE_PREFIX}*`]: ["Query", "PutItem"],
    [`${OPEN_GUARD_PREFIX}*`]: ["GetItem", "PutItem", "DeleteItem"],
    [`${IDEMPOTENCY_PREFIX}*`]: ["GetItem", "PutItem", "UpdateItem", "DeleteItem"],
    [DEVICE_PARTITION]: ["GetItem", "Query"],
  },
  /** Requests (read, transition), guards (free); the pause switch. Devices: `DEVICE_COMPLETION`. */
  executor: {
    [REQUEST_PARTITION]: ["GetItem", "UpdateItem"],
    [`${OPEN_GUARD_PREFIX}*`]: ["DeleteItem"],
    [CONTROL_PARTITION]: ["GetItem"],
  },
  /** The reconciler and the dead-letter function: the same as the executor, no device. */
  reconciler: {
    [REQUEST_PARTITION]: ["GetItem", "UpdateItem"],
    [`${OPEN_GUARD_PREFIX}*`]: ["DeleteItem"],
    [CONTROL_PARTITION]: ["GetItem"],
  },
} as const satisfies Record<string, Readonly<Record<string, readonly ItemAction[]>>>;

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
