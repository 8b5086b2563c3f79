/**
 * The decommission API behind API Gateway (REST, AWS_IAM on every method, proxy integration).
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { KMSClient } from "@aws-sdk/client-kms";
import middy from "@middy/core";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { KmsApprovalMac } from "../adapters/kms/approval-mac.js";
import { loadDecommissionApiEnvironment } from "../config.js";
import {
  apiSettingsFrom,
  awsDecommissionParts,
  createDecommissionApi,
} from "../decommission-runtime.js";
import { logger } from "../lib/observability.js";

const config = loadDecommissionApiEnvironment(process.env);
const clients = { dynamodb: new DynamoDBClient({}), eventBridge: new EventBridgeClient({}) };
const api = createDecommissionApi(
  {
    ...awsDecommissionParts(config, clients, logger),
    signer: new KmsApprovalMac(new KMSClient({}), config.APPROVAL_KEY_ID),
  },
  apiSettingsFrom(config),
);

// The API answers every call itself (problem documents included): it never throws.
export const handler = middy((event: APIGatewayProxyEvent) => api(event)).use(
  injectLambdaContext(logger),
);
