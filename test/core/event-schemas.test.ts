import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { eventDetail } from "../../functions/adapters/eventbridge/event-publisher.js";
import { CHANGE_EVENT_SCHEMAS } from "../../functions/core/event-schemas.js";
import { eventSchemaDocuments } from "../../scripts/event-schema-documents.js";
import { useDynalite } from "../support/dynamo.js";
import { startPollHarness } from "../support/poll-harness.js";

const dynamo = useDynalite();

describe("the published event contract", () => {
  it("docs/events holds exactly the JSON Schemas the code generates (npm run docs:schemas)", async () => {
    for (const [file, document] of Object.entries(eventSchemaDocuments())) {
      const committed = await readFile(
        new URL(`../../docs/events/${file}`, import.meta.url),
        "utf8",
      );
      expect(committed, file).toBe(document);
    }
  });

  it("every event a poll publishes matches the schema of its detail-type", async () => {
    const harness = await startPollHarness(dynamo, { simulator: { fleetSize: 120 } });
    try {
      await harness.poll();
      harness.clock.advance(20 * 60_000);
      harness.sim.fleet.churn(0.3);
      const gone = harness.sim.fleet.list()[3]?.id ?? "";
      harness.sim.fleet.remove(gone);
      await harness.poll();
      const types = new Set(harness.publisher.events.map((event) => event.type));
      expect(types).toEqual(new Set(Object.keys(CHANGE_EVENT_SCHEMAS)));
      for (const event of harness.publisher.events) {
        const detail = JSON.parse(JSON.stringify(eventDetail(event)));
        const parsed = CHANGE_EVENT_SCHEMAS[event.type].safeParse(detail);
        expect(parsed.error, `${event.type} ${event.evseId}`).toBeUndefined();
      }
    } finally {
      await harness.close();
    }
  });
});
