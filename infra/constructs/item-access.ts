import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { DEVICE_COMPLETION, GSI1 } from "../../functions/adapters/dynamodb/table-design.js";

/**
 * The item-level DynamoDB actions a function may be given. Scan, PartiQL and the batch writes
 * are left out on purpose: IAM cannot hold a Scan to partition keys (it has none), and the
 * functions write one item at a time.
 */
export type ItemAction =
  | "dynamodb:GetItem"
  | "dynamodb:BatchGetItem"
  | "dynamodb:Query"
  | "dynamodb:PutItem"
  | "dynamodb:UpdateItem"
  | "dynamodb:DeleteItem";

/** Reads: what a function may do with the partitions it may only read. */
type ReadAction = Extract<
  ItemAction,
  "dynamodb:GetItem" | "dynamodb:BatchGetItem" | "dynamodb:Query"
>;

export interface ItemAccess {
  /** Partition keys (a trailing `*` is a prefix) of the items the function reads and writes. */
  readonly readWrite: readonly string[];
  /** Its actions on those items. */
  readonly readWriteActions: readonly ItemAction[];
  /** Partition keys of the items it only reads. */
  readonly read: readonly string[];
  readonly readActions: readonly ReadAction[];
  /** Whether it lists requests by status (Query on gsi1). */
  readonly queryIndex?: boolean;
}

/**
 * Lets `grantee` touch only the items of `table` whose partition key is one of its own (the
 * lists of functions/adapters/dynamodb/table-design.ts, ITEM_ACCESS), with only the actions it
 * uses, so that one function's bug or compromise cannot write another's items.
 *
 * Each statement holds `dynamodb:LeadingKeys` (every partition key the request touches) to the
 * list, and requires the key to be present: ForAllValues is true of a missing key, so without
 * the Null check a request that carries no partition key (a Scan) would pass.
 *
 * The index statement has no LeadingKeys condition: gsi1 holds only decommission requests (only
 * they carry gsi1pk), which the functions given it read anyway, and Query is its only action.
 */
export function grantItemAccess(table: ITableV2, grantee: IGrantable, access: ItemAccess): void {
  const principal = grantee.grantPrincipal;
  principal.addToPrincipalPolicy(onPartitions(table, access.readWriteActions, access.readWrite));
  if (access.read.length > 0) {
    principal.addToPrincipalPolicy(onPartitions(table, access.readActions, access.read));
  }
  if (access.queryIndex === true) {
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${table.tableArn}/index/${GSI1.name}`],
      }),
    );
  }
}

/**
 * The executor's only access to device items: one UpdateItem of exactly
 * `DEVICE_COMPLETION.attributes` (marking a device it deleted `decommissioned`), returning
 * nothing, so that it can neither create, replace nor delete a device, have its attributes
 * returned, nor change its identity (cpid) or state.
 */
export function grantDeviceCompletion(table: ITableV2, grantee: IGrantable): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["dynamodb:UpdateItem"],
      resources: [table.tableArn],
      conditions: {
        "ForAllValues:StringEquals": {
          "dynamodb:LeadingKeys": [DEVICE_COMPLETION.partition],
          "dynamodb:Attributes": [...DEVICE_COMPLETION.attributes],
        },
        // Absent means NONE (the default); anything else would return the device's attributes.
        StringEqualsIfExists: { "dynamodb:ReturnValues": "NONE" },
        Null: { "dynamodb:LeadingKeys": "false" },
      },
    }),
  );
}

function onPartitions(
  table: ITableV2,
  actions: readonly ItemAction[],
  partitions: readonly string[],
): PolicyStatement {
  if (actions.length === 0 || partitions.length === 0) {
    throw new Error("grantItemAccess: every statement needs actions and partition keys");
  }
  // StringEquals unless a prefix needs StringLike: the plainer operator where it suffices.
  const operator = partitions.some((key) => key.endsWith("*"))
    ? "ForAllValues:StringLike"
    : "ForAllValues:StringEquals";
  return new PolicyStatement({
    actions: [...actions],
    resources: [table.tableArn],
    conditions: {
      [operator]: { "dynamodb:LeadingKeys": [...partitions] },
      Null: { "dynamodb:LeadingKeys": "false" },
    },
  });
}
