import type { IEventBus } from "aws-cdk-lib/aws-events";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import {
  DECOMMISSION_EVENT_TYPES,
  EXECUTION_REQUESTED,
} from "../../functions/core/decommission/model.js";
import { CHANGE_EVENT_SCHEMAS, FLEET_EVENT_SCHEMAS } from "../../functions/core/event-schemas.js";

/** What the poll publishes: the change events and the fleet-wide events of docs/events/. */
export const CHANGE_DETAIL_TYPES: readonly string[] = [
  ...Object.keys(CHANGE_EVENT_SCHEMAS),
  ...Object.keys(FLEET_EVENT_SCHEMAS),
];

/** The decommission lifecycle events. */
export const DECOMMISSION_DETAIL_TYPES: readonly string[] = DECOMMISSION_EVENT_TYPES;

/**
 * The internal event a bus rule turns into an execution message on the executor's queue:
 * whoever may put it on the bus may start an execution.
 */
export const EXECUTION_REQUESTED_DETAIL_TYPE: string = EXECUTION_REQUESTED;

/**
 * Lets `grantee` put on `bus` only events of `source` whose detail-type is one of
 * `detailTypes`. EventBridge authorises PutEvents per entry with these condition keys, so a
 * function cannot publish (or spoof) another function's events, and above all only the API
 * and the reconciler can reach the executor's queue.
 */
export function grantPublish(
  bus: IEventBus,
  grantee: IGrantable,
  source: string,
  detailTypes: readonly string[],
): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["events:PutEvents"],
      resources: [bus.eventBusArn],
      conditions: {
        "ForAllValues:StringEquals": {
          "events:source": [source],
          "events:detail-type": [...detailTypes],
        },
      },
    }),
  );
}
