import { DynamoDeviceStore } from "../../functions/adapters/dynamodb/device-store.js";
import type { DecommissionEvent } from "../../functions/core/decommission/model.js";
import { createDecommissionApi } from "../../functions/decommission-runtime.js";
import type { Clock } from "../../functions/ports.js";
import { LocalExecutionQueue } from "../../local/execution-queue.js";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { RecordingPublisher } from "../../local/recording-publisher.js";
import { aDevice, evseId, SANDBOX_APPROVERS, TEST_APPROVALS } from "../decommission/fixtures.js";
import type { useDynalite } from "../support/dynamo.js";
import { silentLogger } from "../support/poll-harness.js";

/** The API handler over a fresh table holding `deviceCount` active devices; no upstream. */
export async function startApi(dynamo: ReturnType<typeof useDynalite>, deviceCount = 3) {
  const tableName = await dynamo.freshTable();
  const clock = new ManualClock("2026-03-02T08:00:00Z");
  const devices = new DynamoDeviceStore(dynamo.documents, tableName);
  for (let i = 0; i < deviceCount; i++) {
    await devices.put(aDevice({ evseId: evseId(i), cpid: `CP-${i}` }), undefined);
  }
  return { ...apiOverTable(dynamo, tableName, clock), tableName, clock, devices };
}

/** The API handler as the Lambda composes it, over an existing table, on `clock`. */
export function apiOverTable(
  dynamo: ReturnType<typeof useDynalite>,
  tableName: string,
  clock: Clock,
) {
  const publisher = new RecordingPublisher<DecommissionEvent>();
  const queue = new LocalExecutionQueue({ clock });
  const api = createDecommissionApi(
    {
      documents: dynamo.documents,
      tableName,
      publisher,
      queue,
      clock,
      random: seededRandom(1),
      logger: silentLogger,
      pauseCacheMs: 0,
      signer: TEST_APPROVALS,
    },
    {
      approverPatterns: SANDBOX_APPROVERS,
      pendingExpiryMs: 7 * 86_400_000,
      idempotencyRetentionMs: 86_400_000,
    },
  );
  return { api, publisher, queue };
}
