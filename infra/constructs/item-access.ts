import type { ITableV2 } from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import {
  DEVICE_COMPLETION,
  GSI1,
  GSI2,
  type ItemAction,
} from "../../functions/adapters/dynamodb/table-design.js";

/**
 * Lets `grantee` touch only the items of `table` whose partition key is one of its own (the
 * map of functions/adapters/dynamodb/table-design.ts, ITEM_ACCESS: partition key → actions),
 * with only the actions it uses on each, so that one function's bug or compromise cannot write
 * another's items. One statement per distinct set of actions.
 *
 * Each statement holds `dynamodb:LeadingKeys` (every partition key the request touches) to its
 * partitions, and requires the key to be present: ForAllValues is true of a missing key, so
 * without the Null check a request that carries no partition key (a Scan) would pass.
 *
 * `queryIndex` adds Query on gsi1, with no LeadingKeys condition: gsi1 holds only decommission
 * requests (only they carry gsi1pk), which the functions given it read anyway.
 * `queryOfflineIndex` adds Query on gsi2, likewise: it holds only offline device items (only
 * they carry gsi2pk), a few of their attributes, which the API reads on the table anyway.
 */
export function grantItemAccess(
  table: ITableV2,
  grantee: IGrantable,
  access: Readonly<Record<string, readonly ItemAction[]>>,
  options: { queryIndex?: boolean; queryOfflineIndex?: boolean } = {},
): void {
  const principal = grantee.grantPrincipal;
  const byActions = new Map<string, string[]>();
  for (const [partition, actions] of Object.entries(access)) {
    const key = [...actions].sort().join(",");
    byActions.set(key, [...(byActions.get(key) ?? []), partition]);
  }
  for (const [actions, partitions] of byActions) {
    principal.addToPrincipalPolicy(onPartitions(table, actions.split(","), partitions));
  }
  if (options.queryIndex === true) {
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${table.tableArn}/index/${GSI1.name}`],
      }),
    );
  }
  if (options.queryOfflineIndex === true) {
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${table.tableArn}/index/${GSI2.name}`],
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
  actions: readonly string[],
  partitions: readonly string[],
): PolicyStatement {
  if (actions.length === 0 || actions[0] === "" || partitions.length === 0) {
    throw new Error("grantItemAccess: every statement needs actions and partition keys");
  }
  // StringEquals unless a prefix needs StringLike: the plainer operator where it suffices.
  const operator = partitions.some((key) => key.endsWith("*"))
    ? "ForAllValues:StringLike"
    : "ForAllValues:StringEquals";
  return new PolicyStatement({
    actions: actions.map((action) => `dynamodb:${action}`),
    resources: [table.tableArn],
    conditions: {
      [operator]: { "dynamodb:LeadingKeys": [...partitions] },
      Null: { "dynamodb:LeadingKeys": "false" },
    },
  });
}
