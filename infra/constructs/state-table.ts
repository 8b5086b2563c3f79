import { RemovalPolicy } from "aws-cdk-lib";
import {
  AttributeType,
  Billing,
  type ITableV2,
  ProjectionType,
  TableEncryptionV2,
  TableV2,
} from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";
import {
  GSI1,
  GSI2,
  OFFLINE_INDEX_ATTRIBUTES,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from "../../functions/adapters/dynamodb/table-design.js";

export interface StateTableProps {
  /** RETAIN also turns on deletion protection; DESTROY lets the stack take the table with it. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The single DynamoDB table holding device state, the poll's ledger, checkpoints and lease,
 * fleet health (history, rollups, snapshot) and decommission requests: a generic `pk`/`sk` key,
 * plus the `gsi1` index (`gsi1pk`/`gsi1sk`, all attributes) for listings such as requests by
 * status, and the sparse `gsi2` (`gsi2pk`/`gsi2sk`), the offline index: only offline devices
 * carry its keys, and it projects only attributes that change with a change event, so keeping
 * it costs no request and an offline device's heartbeat no index write. The key design lives in
 * functions/adapters/dynamodb/table-design.ts, which the adapters share.
 *
 * On-demand billing (the poll writes in bursts every few minutes, then nothing), point-in-time
 * recovery always on, encryption with the AWS-managed key, and DynamoDB TTL on `expiresAt`
 * (epoch seconds) so that ledger minutes, idempotency keys, history entries and rollups the
 * code stops reading are
 * deleted at no cost. TTL deletion is lazy (up to days late), so the code never relies on it
 * for correctness.
 */
export class StateTable extends Construct {
  readonly table: ITableV2;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    const retain = props.removalPolicy === RemovalPolicy.RETAIN;
    this.table = new TableV2(this, "Table", {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: retain,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      removalPolicy: props.removalPolicy,
      globalSecondaryIndexes: [
        {
          indexName: GSI1.name,
          partitionKey: { name: GSI1.partitionKey, type: AttributeType.STRING },
          sortKey: { name: GSI1.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.ALL,
        },
        {
          indexName: GSI2.name,
          partitionKey: { name: GSI2.partitionKey, type: AttributeType.STRING },
          sortKey: { name: GSI2.sortKey, type: AttributeType.STRING },
          projectionType: ProjectionType.INCLUDE,
          nonKeyAttributes: [...OFFLINE_INDEX_ATTRIBUTES],
        },
      ],
    });
  }
}
