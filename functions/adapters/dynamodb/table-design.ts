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
 * | device history entry | `HIST#<evseId>` | `<detectedAt>#<eventId>` (newest last); TTL `expiresAt` |
 * | availability rollup | `AVAIL#<YYYY-MM>` | EVSE id (one per device and UTC month); TTL `expiresAt` |
 * | fleet snapshot      | `FLEET`     | `SNAPSHOT` (the latest complete sweep's) |
 * | webhook claim       | `WEBHOOK#<svix-id>` | `CLAIM` (dedupe, with states); TTL `expiresAt` (7 days) |
 * | webhook ledger      | `WEBHOOK_LEDGER` | `SPENT` (the webhook path's requests per minute, last hour) |
 *
 * gsi2, the offline index, is sparse: only an active device item that is offline carries its
 * keys (`gsi2pk` `OFFLINE`, `gsi2sk` `<sampledAt>#<evseId>`), so the silent chargers are one
 * Query, oldest sample first, reading only what it returns. The device write maintains it.
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
/** The sparse offline index over device items (see above); it projects OFFLINE_INDEX_ATTRIBUTES. */
export const GSI2 = { name: "gsi2", partitionKey: "gsi2pk", sortKey: "gsi2sk" } as const;
/** Expired ledger, idempotency, history and rollup items carry this (epoch seconds) for TTL. */
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
export const HISTORY_PREFIX = "HIST#";
export const ROLLUP_PREFIX = "AVAIL#";
export const FLEET_PARTITION = "FLEET";
export const SNAPSHOT_SORT_KEY = "SNAPSHOT";
export const OFFLINE_INDEX_PARTITION = "OFFLINE";
export const WEBHOOK_CLAIM_PREFIX = "WEBHOOK#";
export const WEBHOOK_CLAIM_SORT_KEY = "CLAIM";
export const WEBHOOK_LEDGER_PARTITION = "WEBHOOK_LEDGER";
export const WEBHOOK_LEDGER_SORT_KEY = "SPENT";
/**
 * What gsi2 keeps of a device besides its keys: attributes that change only with a change
 * event, so a heartbeat write of an offline device does not rewrite the index.
 */
export const OFFLINE_INDEX_ATTRIBUTES = [
  "evseId",
  "cpid",
  "lockMode",
  "sampledAt",
  "connectivity",
  "lifecycle",
  "firstSeenAt",
  "lastChangedAt",
] as const;

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
   * checkpoint, the ledger; reads its switch (`CONTROL` / `POLL_PAUSE`), never writes one; and
   * the only writer of fleet health: history entries (put), rollups (transitions appended), the
   * snapshot (put). Never a request; never a read of its history.
   */
  poll: {
    [DEVICE_PARTITION]: ["GetItem", "Query", "PutItem"],
    [POLL_PARTITION]: ["UpdateItem"],
    [LEDGER_PARTITION]: ["UpdateItem", "Query"],
    [`${HISTORY_PREFIX}*`]: ["PutItem"],
    [`${ROLLUP_PREFIX}*`]: ["UpdateItem"],
    [FLEET_PARTITION]: ["PutItem"],
    [CONTROL_PARTITION]: ["GetItem"],
  },
  /**
   * Requests, their pointers and guards, idempotency keys; reads the devices and, never writing
   * them, the fleet health the poll keeps (history pages, rollups by month or by device, the
   * snapshot).
   */
  api: {
    [REQUEST_PARTITION]: ["GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"],
    [`${REQUEST_BY_EVSE_PREFIX}*`]: ["Query", "PutItem"],
    [`${OPEN_GUARD_PREFIX}*`]: ["GetItem", "PutItem", "DeleteItem"],
    [`${IDEMPOTENCY_PREFIX}*`]: ["GetItem", "PutItem", "UpdateItem", "DeleteItem"],
    [DEVICE_PARTITION]: ["GetItem", "Query"],
    [`${HISTORY_PREFIX}*`]: ["Query"],
    [`${ROLLUP_PREFIX}*`]: ["Query", "BatchGetItem"],
    [FLEET_PARTITION]: ["GetItem"],
  },
  /** Requests (read, transition), guards (free); the pause switch. Devices: `DEVICE_COMPLETION`. */
  executor: {
    [REQUEST_PARTITION]: ["GetItem", "UpdateItem"],
    [`${OPEN_GUARD_PREFIX}*`]: ["DeleteItem"],
    [CONTROL_PARTITION]: ["GetItem"],
  },
  /**
   * The webhook worker: its own claims (read, conditional put) and ledger (read, conditional
   * update), and, deliberately,
   * the poll's device write and fleet-health records for the one device a webhook names: read
   * the device, write a new version (conditional on the old), put its history entries, append
   * to its rollup. Never a range read, the lease, the poll's ledger, the snapshot or a request.
   */
  webhookWorker: {
    [`${WEBHOOK_CLAIM_PREFIX}*`]: ["GetItem", "PutItem"],
    [WEBHOOK_LEDGER_PARTITION]: ["GetItem", "UpdateItem"],
    [DEVICE_PARTITION]: ["GetItem", "PutItem"],
    [`${HISTORY_PREFIX}*`]: ["PutItem"],
    [`${ROLLUP_PREFIX}*`]: ["UpdateItem"],
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
