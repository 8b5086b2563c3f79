/**
 * What the API shows of a device: its state as events show it, never the mark the webhook path
 * leaves for the poll to measure its lead from.
 */
import { describe, expect, it } from "vitest";
import { proxyEvent } from "../../local/api-gateway-event.js";
import { ARNS, aDevice, evseId } from "../decommission/fixtures.js";
import { useDynalite } from "../support/dynamo.js";
import { startApi } from "./api-harness.js";

const dynamo = useDynalite();

describe("a device as the API shows it", () => {
  it("leaves out the webhook path's mark, in one device and in the listing", async () => {
    const { api, devices } = await startApi(dynamo, 0);
    const marked = aDevice({ evseId: evseId(7), webhookChangedAt: "2026-03-02T08:00:00.000Z" });
    await devices.put(marked, undefined);
    expect(await devices.get(marked.evseId)).toHaveProperty("webhookChangedAt");
    const get = (path: string) =>
      api(proxyEvent({ method: "GET", path, callerArn: ARNS.requester }));
    const one = await get(`/evses/${marked.evseId}`);
    expect(one.statusCode).toBe(200);
    expect(JSON.parse(one.body)).toMatchObject({ evseId: marked.evseId, version: marked.version });
    expect(JSON.parse(one.body)).not.toHaveProperty("webhookChangedAt");
    const list = JSON.parse((await get("/evses")).body) as {
      items: Array<Record<string, unknown>>;
    };
    expect(list.items.map((item) => item.evseId)).toEqual([marked.evseId]);
    expect(list.items[0]).not.toHaveProperty("webhookChangedAt");
  });
});
