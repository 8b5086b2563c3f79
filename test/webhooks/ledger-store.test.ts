/**
 * The webhook ledger's item over the embedded DynamoDB, when a write's answer is lost: the SDK
 * sends the write again, the repeat fails its condition, and the write must still count as
 * applied, or the refunds in it would be planned and given back twice (the ledger would then
 * count fewer requests than were sent).
 */
import { describe, expect, it } from "vitest";
import { DynamoWebhookLedger } from "../../functions/adapters/dynamodb/webhook-store.js";
import { requestsInWindow } from "../../functions/core/webhooks/budget.js";
import { refundToLedger, spendFromLedger } from "../../functions/core/webhooks/spend.js";
import { localDynamoClients } from "../../local/dynamodb.js";
import { useDynalite } from "../support/dynamo.js";

const dynamo = useDynalite();
const NOW = Date.parse("2026-03-02T08:00:00Z");

/** A client whose next ledger update is applied, its answer lost, and sent again. */
function clientLosingAnAnswer() {
  const { documents } = localDynamoClients(dynamo.endpoint);
  let loseNext = false;
  documents.middlewareStack.add(
    (next, context) => async (args) => {
      if (!loseNext || context.commandName !== "UpdateItemCommand") return next(args);
      loseNext = false;
      await next(args);
      // The answer never arrived; the retry meets the item the first attempt wrote.
      return next(args);
    },
    { step: "initialize", name: "loseOneAnswer" },
  );
  return {
    documents,
    loseNextAnswer: () => {
      loseNext = true;
    },
  };
}

describe("the webhook ledger item", () => {
  it("takes a write whose answer was lost, and whose repeat failed its condition, as applied", async () => {
    const table = await dynamo.freshTable();
    const { documents, loseNextAnswer } = clientLosingAnAnswer();
    const ledger = new DynamoWebhookLedger(documents, table);
    const request = { now: () => NOW, cost: 4, share: 100, sendMarginMs: 0 };
    const spend = await spendFromLedger(ledger, request);
    expect(spend).toEqual({ spent: true, at: NOW });
    loseNextAnswer();
    // One of the four was sent: three are given back, once.
    await refundToLedger(ledger, NOW, 3);
    const stored = await new DynamoWebhookLedger(dynamo.documents, table).read();
    expect(requestsInWindow(stored, NOW, { sendMarginMs: 0 })).toBe(1);
    expect(stored.revision).toBe(2);
  });

  it("still reports a write another writer beat as lost", async () => {
    const table = await dynamo.freshTable();
    const mine = new DynamoWebhookLedger(dynamo.documents, table);
    const theirs = new DynamoWebhookLedger(dynamo.documents, table);
    const first = { minutes: [[NOW, 4]] as Array<[number, number]>, revision: 1 };
    expect(await theirs.write(first, 0)).toBe(true);
    expect(await mine.write({ minutes: [[NOW, 8]], revision: 1 }, 0)).toBe(false);
    expect(await mine.write({ minutes: [[NOW, 8]], revision: 2 }, 1)).toBe(true);
    expect(await theirs.write({ minutes: [[NOW, 12]], revision: 2 }, 1)).toBe(false);
    expect((await mine.read()).minutes).toEqual([[NOW, 8]]);
  });
});
