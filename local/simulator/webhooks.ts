/**
 * The simulated ev.energy's webhooks: when a simulated charger starts charging, a
 * `charging_sub_session.created`; when it stops, a `charging_sub_session.ended`; each signed as
 * Svix signs (the `svix` package's own signer) with wall-clock time, since the receiver's
 * verifier reads the real clock. Faults, switchable like the API's: a first delivery lost and
 * retried later under the same `svix-id`, duplicates, and a flush's messages sent in reverse.
 */
import { Webhook } from "svix";
import type { Random } from "../../functions/ports.js";
import type { SimChange, SimFleet } from "./types.js";
import { randomUlid } from "./ulid.js";

export interface WebhookFaults {
  /** Fraction of messages whose first delivery is lost; Svix delivers them again later. */
  retryRate?: number;
  /** Fraction of messages delivered twice (same svix-id). */
  duplicateRate?: number;
  /** Send each flush's messages newest first. */
  reorder?: boolean;
}

export interface WebhookSenderOptions {
  fleet: SimFleet;
  /** The simulated clock: the sub-sessions' times. */
  clock: { now(): number };
  /** The receiver, e.g. `http://127.0.0.1:3000/webhooks/ev-energy`. */
  url: string;
  /** `whsec_…`, the endpoint's signing secret. */
  secret: string;
  random: Random;
  /** Real time for the signature (Svix signs with its clock). Default Date.now. */
  wall?: () => number;
  /** How long after a lost delivery, or a non-2xx answer, the retry comes (simulated ms). */
  retryAfterMs?: number;
  /** The simulated ev.energy base URL, for the sub-session's `evse` reference. */
  apiBaseUrl: string;
}

interface Message {
  id: string;
  body: string;
  dueAt: number;
  attempts: number;
}

/** Svix gives up after this many attempts (its schedule spans days; ours a few retries). */
const MAX_ATTEMPTS = 5;

export class SimWebhookSender {
  #seen = 0;
  #faults: WebhookFaults = {};
  readonly #open = new Map<string, { id: string; start: number }>();
  readonly #outbox: Message[] = [];
  /** Every delivery attempt made: svix-id, type, the status answered (or "lost"). */
  readonly deliveries: Array<{ id: string; type: string; status: number | "lost" | "error" }> = [];

  constructor(private readonly options: WebhookSenderOptions) {}

  setFaults(faults: WebhookFaults): void {
    this.#faults = { ...faults };
  }

  /**
   * Turns the fleet's charging starts and stops since the last flush into messages, then sends
   * every message that is due. Returns the attempts made.
   */
  async flush(): Promise<number> {
    const now = this.options.clock.now();
    const changes = this.options.fleet.changes();
    for (const change of changes.slice(this.#seen)) this.#messageFor(change);
    this.#seen = changes.length;
    const due = this.#outbox.filter((message) => message.dueAt <= now);
    if (this.#faults.reorder) due.reverse();
    for (const message of due) {
      this.#outbox.splice(this.#outbox.indexOf(message), 1);
      await this.#deliver(message, now);
    }
    return due.length;
  }

  #messageFor(change: SimChange): void {
    const { random, apiBaseUrl } = this.options;
    if (change.kind !== "charging-started" && change.kind !== "charging-stopped") return;
    const started = change.kind === "charging-started";
    const open = this.#open.get(change.evseId);
    if (!started && open === undefined) return;
    const session = open ?? { id: randomUlid(random, "csub", change.at), start: change.at };
    if (started) this.#open.set(change.evseId, session);
    else this.#open.delete(change.evseId);
    const iso = (at: number) => new Date(at).toISOString();
    const type = started ? "charging_sub_session.created" : "charging_sub_session.ended";
    const body = JSON.stringify({
      type,
      timestamp: iso(change.at),
      data: {
        id: session.id,
        url: `${apiBaseUrl}/charging_sub_sessions/${session.id}`,
        start: iso(session.start),
        end: started ? null : iso(change.at),
        mode: "SMART",
        energy_delivered_watt_hours: 0,
        evse: `${apiBaseUrl}/evses/${change.evseId}`,
      },
    });
    const message = {
      id: randomUlid(random, "msg_", change.at),
      body,
      dueAt: change.at,
      attempts: 0,
    };
    this.#outbox.push(message);
    if (random() < (this.#faults.duplicateRate ?? 0)) this.#outbox.push({ ...message });
  }

  async #deliver(message: Message, now: number): Promise<void> {
    const { url, secret, random } = this.options;
    const type = (JSON.parse(message.body) as { type: string }).type;
    message.attempts += 1;
    const retry = () => {
      if (message.attempts < MAX_ATTEMPTS) {
        this.#outbox.push({ ...message, dueAt: now + (this.options.retryAfterMs ?? 5_000) });
      }
    };
    if (message.attempts === 1 && random() < (this.#faults.retryRate ?? 0)) {
      this.deliveries.push({ id: message.id, type, status: "lost" });
      retry();
      return;
    }
    const signedAt = new Date((this.options.wall ?? Date.now)());
    const headers = {
      "content-type": "application/json",
      "svix-id": message.id,
      "svix-timestamp": String(Math.floor(signedAt.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(message.id, signedAt, message.body),
      "svix-event-type": type,
    };
    try {
      const answer = await fetch(url, { method: "POST", headers, body: message.body });
      await answer.arrayBuffer();
      this.deliveries.push({ id: message.id, type, status: answer.status });
      if (answer.status < 200 || answer.status >= 300) retry();
    } catch {
      this.deliveries.push({ id: message.id, type, status: "error" });
      retry();
    }
  }
}
