/**
 * The simulated ev.energy's webhook sender over real HTTP: what it sends when chargers start and
 * stop, signed so Svix's verifier accepts it, and its switchable faults.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "svix";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, seededRandom } from "../../local/manual-clock.js";
import { startSimulator } from "../../local/simulator/index.js";
import type { Simulator } from "../../local/simulator/types.js";
import { SimWebhookSender } from "../../local/simulator/webhooks.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WALL = Date.parse("2026-03-02T08:00:00Z");
let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

interface Received {
  headers: Record<string, string>;
  body: string;
}

async function receiver(status: () => number) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString("utf8"),
      });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

async function world(status: () => number = () => 200) {
  const clock = new ManualClock("2026-03-02T08:00:00Z");
  const sim: Simulator = await startSimulator({ fleetSize: 10, clock });
  closers.push(() => sim.close());
  const target = await receiver(status);
  const sender = new SimWebhookSender({
    fleet: sim.fleet,
    clock,
    url: target.url,
    secret: SECRET,
    random: seededRandom(3),
    wall: () => WALL,
    retryAfterMs: 5_000,
    apiBaseUrl: sim.apiBaseUrl,
  });
  const idle = sim.fleet.list().filter((d) => d.status?.isCharging === false);
  const charge = (index: number, charging: boolean) => {
    const id = idle[index]?.id ?? "";
    sim.fleet.update(id, {
      status: { isCharging: charging, chargeRateWatts: charging ? 7_000 : 0 },
    });
    return id;
  };
  return { clock, sim, sender, received: target.received, charge };
}

const bodyOf = (r: Received) => JSON.parse(r.body);
/** Svix's verifier reads Date: set to the wall clock the sender signed with. */
const verifies = (r: Received) => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(WALL);
  try {
    new Webhook(SECRET).verify(r.body, r.headers);
    return true;
  } catch {
    return false;
  } finally {
    vi.useRealTimers();
  }
};

describe("the simulator's webhooks", () => {
  it("send a signed created when a charger starts charging and an ended when it stops", async () => {
    const { clock, sender, received, charge, sim } = await world();
    const evseId = charge(0, true);
    clock.advance(60_000);
    charge(0, false);
    await sender.flush();
    expect(received.map((r) => bodyOf(r).type)).toEqual([
      "charging_sub_session.created",
      "charging_sub_session.ended",
    ]);
    const [created, ended] = received.map(bodyOf);
    expect(created.data.id).toBe(ended.data.id);
    expect(created.data.evse).toBe(`${sim.apiBaseUrl}/evses/${evseId}`);
    expect(ended.data.end).not.toBeNull();
    expect(received.every(verifies)).toBe(true);
    expect(received[0]?.headers["svix-event-type"]).toBe("charging_sub_session.created");
  });

  it("retries a lost first delivery later under the same svix-id, and one the receiver refused", async () => {
    let answers = [503];
    const { clock, sender, received, charge } = await world(() => answers.shift() ?? 200);
    charge(0, true);
    await sender.flush();
    expect(received).toHaveLength(1);
    await sender.flush();
    expect(received).toHaveLength(1);
    clock.advance(5_000);
    await sender.flush();
    expect(received.map((r) => r.headers["svix-id"])).toEqual([
      received[0]?.headers["svix-id"],
      received[0]?.headers["svix-id"],
    ]);
    answers = [];
    sender.setFaults({ retryRate: 1 });
    charge(1, true);
    await sender.flush();
    expect(sender.deliveries.at(-1)?.status).toBe("lost");
    clock.advance(5_000);
    await sender.flush();
    expect(sender.deliveries.at(-1)?.status).toBe(200);
  });

  it("duplicates and reorders when told to", async () => {
    const { sender, received, charge } = await world();
    sender.setFaults({ duplicateRate: 1, reorder: true });
    const first = charge(0, true);
    const second = charge(1, true);
    await sender.flush();
    const evses = received.map((r) => String(bodyOf(r).data.evse).split("/").at(-1));
    expect(evses).toEqual([second, second, first, first]);
  });
});
