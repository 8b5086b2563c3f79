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

export interface StateTableProps {
  /** RETAIN also turns on deletion protection; DESTROY lets the stack take the table with it. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The single DynamoDB table holding device state, the poll's ledger, checkpoints and lease,
 * and decommission requests: a generic `pk`/`sk` key, plus the `gsi1` index (`gsi1pk`/`gsi1sk`,
 * all attributes) for listings such as requests by status.
 *
 * On-demand billing (the poll writes in bursts every few minutes, then nothing), point-in-time
 * recovery always on, encryption with the AWS-managed key.
 */
export class StateTable extends Construct {
  /** Name of the index for list-by-status queries. */
  static readonly GSI1 = "gsi1";

  readonly table: ITableV2;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    const retain = props.removalPolicy === RemovalPolicy.RETAIN;
    this.table = new TableV2(this, "Table", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: retain,
      removalPolicy: props.removalPolicy,
      globalSecondaryIndexes: [
        {
          indexName: StateTable.GSI1,
          partitionKey: { name: "gsi1pk", type: AttributeType.STRING },
          sortKey: { name: "gsi1sk", type: AttributeType.STRING },
          projectionType: ProjectionType.ALL,
        },
      ],
    });
  }
}
