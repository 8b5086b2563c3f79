/**
 * What the poll's and the webhook worker's Lambdas are built on, alike: the read secret from
 * Secrets Manager, the table, the bus, the system clock and randomness, the shared logger.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { EventBridgePublisher } from "../adapters/eventbridge/event-publisher.js";
import { SecretsManagerSecretSource } from "../adapters/secrets/secrets-manager-secret-source.js";
import { systemClock, systemRandom } from "../lib/clock.js";
import { logger } from "../lib/observability.js";
import type { BusEvent } from "../ports.js";

export function awsObserverParts<E extends BusEvent>(config: {
  EVENERGY_SECRET_ID: string;
  EVENT_BUS_NAME: string;
  EVENT_SOURCE: string;
}) {
  return {
    secrets: new SecretsManagerSecretSource({ secretId: config.EVENERGY_SECRET_ID }),
    documents: DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true },
    }),
    publisher: new EventBridgePublisher<E>({
      client: new EventBridgeClient({}),
      busName: config.EVENT_BUS_NAME,
      source: config.EVENT_SOURCE,
      clock: systemClock,
      random: systemRandom,
      logger,
    }),
    clock: systemClock,
    random: systemRandom,
    logger,
  };
}
