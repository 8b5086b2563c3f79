import type { Random } from "../../functions/ports.js";
import { type SeededRandom, seededRandom } from "../manual-clock.js";
import type { SimChange, SimClock, SimDevice, SimFleet, SimStatus } from "./types.js";
import { randomUlid, UlidSequence } from "./ulid.js";

type LockMode = SimDevice["lockMode"];

const MINUTE_MS = 60_000;
/** Online devices report once per this interval, each at its own phase. */
const REPORT_INTERVAL_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The seeded fleet's ids date from the two years before this. */
const FLEET_INSTALLED_BY = Date.parse("2025-06-01T00:00:00Z");
const MIN_RATE_WATTS = 1400;
const MAX_RATE_WATTS = 22_000;

/**
 * Dynamics, per simulated minute. A device-level event hits about 0.3% of devices a minute
 * (a charger changes a few times a day); silent devices come back after ~50 minutes on
 * average; devices appear and disappear rarely.
 */
const DEVICE_EVENT_RATE = 0.003;
const COME_BACK_RATE = 0.02;
const APPEAR_RATE = 0.00002;
const DISAPPEAR_RATE = 0.00002;

type ChangeKind = "plug" | "charge" | "rate" | "lock" | "silence";
const KIND_WEIGHTS: Record<ChangeKind, number> = {
  plug: 3,
  charge: 3,
  rate: 2.5,
  lock: 0.5,
  silence: 0.6,
};

/** What the wire shape needs beyond `SimDevice`, and the device's reporting state. */
export interface DeviceExtras {
  modelId: string;
  userId: string;
  location: { latitude: number; longitude: number } | null;
  /** True once the device stopped reporting (its sample no longer advances). */
  silent: boolean;
  /** Offset of this device's reports within the reporting interval. */
  phaseMs: number;
  /** How long after sampling ev.energy logs a report. */
  lagMs: number;
  /** Meter reading at `meterAt`; charging adds to it from then on. */
  meterWh: number;
  meterAt: number;
}

export type ListEntry =
  | { kind: "device"; device: SimDevice }
  | { kind: "raw"; item: Record<string, unknown> };

export interface FleetPage {
  entries: ListEntry[];
  /** First and last device ids on the page (raw items have none). */
  firstId: string | undefined;
  lastId: string | undefined;
  hasBefore: boolean;
  hasAfter: boolean;
}

export interface FleetSummary {
  size: number;
  online: number;
  offline: number;
  neverReported: number;
  pluggedIn: number;
  charging: number;
  silent: number;
  changes: number;
}

export interface FleetOptions {
  size: number;
  seed: number;
  clock: SimClock;
  dynamic: boolean;
  /** Go on from a `snapshot()` of a fleet of the same seed and size instead of building it. */
  restore?: FleetSnapshot;
}

/**
 * Everything a fleet needs to go on exactly where it stood: the sandbox keeps it with its data,
 * so a restart neither forgets the devices that came and went nor rebuilds the seeded fleet.
 * (The journal of changes is not kept: it starts empty.)
 */
export interface FleetSnapshot {
  version: 1;
  seed: number;
  size: number;
  dynamic: boolean;
  createdAt: number;
  devices: SimDevice[];
  extras: Array<[string, DeviceExtras]>;
  raw: Array<{ afterId: string; item: Record<string, unknown> }>;
  serials: number[];
  silentPool: string[];
  ids: { digits: number[] | undefined; time: number };
  randoms: { build: number; churn: number; evolve: number };
  stepStart: number;
  pending: Array<{ at: number; type: "device" | "come-back" | "appear" | "disappear" }>;
  pendingIndex: number;
}

interface PendingEvent {
  at: number;
  type: "device" | "come-back" | "appear" | "disappear";
}

interface Maker {
  weight: number;
  cpid(serial: number, random: Random): string;
}

const HEX = "0123456789ABCDEF";
const ALNUM = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

function chars(random: Random, alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

const MAKERS: readonly Maker[] = [
  { weight: 0.3, cpid: (serial) => `SHIR${100001 + serial}` },
  { weight: 0.25, cpid: (_serial, random) => `EO-${chars(random, HEX, 6)}` },
  { weight: 0.2, cpid: (serial) => `WBX${String(4711 + serial * 13).padStart(7, "0")}` },
  { weight: 0.15, cpid: (_serial, random) => `EH${chars(random, ALNUM, 6)}` },
  { weight: 0.1, cpid: (serial) => `ZAP${String(20_000_000 + serial * 7).padStart(8, "0")}` },
];

/** Derives an independent stream from the seed, so each concern draws its own numbers. */
export function seedStream(seed: number, stream: number): SeededRandom {
  return seededRandom(
    (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(stream, 0x27d4eb2d)) >>> 0,
  );
}

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

function poisson(random: Random, mean: number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let count = 0;
    let product = random();
    while (product > limit) {
      count++;
      product *= random();
    }
    return count;
  }
  // Normal approximation (Box-Muller) for large means: cheap and close enough.
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian));
}

function randomRate(random: Random): number {
  const band = random();
  const jitter = random();
  let watts: number;
  if (band < 0.2) watts = 1400 + jitter * 2300;
  else if (band < 0.7) watts = 6800 + jitter * 600;
  else if (band < 0.9) watts = 10_500 + jitter * 500;
  else watts = 21_000 + jitter * 1000;
  return Math.round(watts / 10) * 10;
}

function randomLockMode(random: Random): LockMode {
  const roll = random();
  if (roll < 0.8) return "UNLOCKED";
  if (roll < 0.9) return "SMART";
  if (roll < 0.95) return "LOCKED";
  return null;
}

/**
 * Index of the first item whose key is greater than `id` (or >= with `inclusive`): the key is a
 * device's id, or a raw item's `afterId`.
 */
function lowerBound<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  id: string,
  inclusive: boolean,
): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const key = keyOf(items[mid] as T);
    if (key < id || (!inclusive && key === id)) low = mid + 1;
    else high = mid;
  }
  return low;
}

const bound = (items: readonly { id: string }[], id: string, inclusive: boolean) =>
  lowerBound(items, (item) => item.id, id, inclusive);
const rawBound = (items: readonly { afterId: string }[], id: string, inclusive: boolean) =>
  lowerBound(items, (item) => item.afterId, id, inclusive);

/**
 * The simulated fleet: devices sorted by id (binary search for cursors), a journal of every
 * change, and optional dynamics that evolve the fleet as simulated time passes. Dynamics cost
 * O(events) per simulated minute: the number of events is drawn, devices are picked at
 * random, and online devices' samples advance lazily when a device is read.
 */
export class Fleet implements SimFleet {
  readonly #clock: SimClock;
  readonly #seed: number;
  readonly #initialSize: number;
  readonly #dynamic: boolean;
  readonly #modelIds: string[][];
  /** When the fleet was first built: ids and users are dated from it, so reset keeps them. */
  readonly #createdAt: number;

  #devices: SimDevice[] = [];
  #byId = new Map<string, SimDevice>();
  #extras = new Map<string, DeviceExtras>();
  #raw: { afterId: string; item: Record<string, unknown> }[] = [];
  #journal: SimChange[] = [];
  #cpids = new Set<string>();
  #serials: number[] = [];
  #silentPool: string[] = [];
  #silentIndex = new Map<string, number>();
  /** Devices silenced by `silence`, kept apart from the pool the dynamics bring back. */
  #outage = new Set<string>();
  #outageRandom!: Random;
  #ids!: UlidSequence;
  #buildRandom!: SeededRandom;
  #churnRandom!: SeededRandom;
  #evolveRandom!: SeededRandom;
  #stepStart = 0;
  #pending: PendingEvent[] = [];
  #pendingIndex = 0;

  constructor(options: FleetOptions) {
    this.#clock = options.clock;
    this.#seed = options.seed;
    this.#initialSize = Math.max(0, Math.floor(options.size));
    this.#dynamic = options.dynamic;
    this.#createdAt = options.restore?.createdAt ?? options.clock.now();
    const modelRandom = seedStream(options.seed, 1);
    this.#modelIds = MAKERS.map(() => [
      randomUlid(modelRandom, "emod", Date.UTC(2023, 0, 1)),
      randomUlid(modelRandom, "emod", Date.UTC(2024, 0, 1)),
    ]);
    if (options.restore === undefined) this.reset();
    else this.#restore(options.restore);
  }

  /** A copy of the fleet's whole state, JSON-safe, for `FleetOptions.restore`. */
  snapshot(): FleetSnapshot {
    const copy = <T>(value: T): T => structuredClone(value);
    return {
      version: 1,
      seed: this.#seed,
      size: this.#initialSize,
      dynamic: this.#dynamic,
      createdAt: this.#createdAt,
      devices: copy(this.#devices),
      extras: copy([...this.#extras]),
      raw: copy(this.#raw),
      serials: [...this.#serials],
      silentPool: [...this.#silentPool],
      ids: this.#ids.snapshot(),
      randoms: {
        build: this.#buildRandom.state(),
        churn: this.#churnRandom.state(),
        evolve: this.#evolveRandom.state(),
      },
      stepStart: this.#stepStart,
      pending: copy(this.#pending),
      pendingIndex: this.#pendingIndex,
    };
  }

  #restore(snapshot: FleetSnapshot): void {
    if (
      snapshot.version !== 1 ||
      snapshot.seed !== this.#seed ||
      snapshot.size !== this.#initialSize ||
      snapshot.dynamic !== this.#dynamic
    ) {
      throw new Error(
        `the saved fleet (seed ${snapshot.seed}, ${snapshot.size} EVSEs) is not this one (seed ${this.#seed}, ${this.#initialSize} EVSEs)`,
      );
    }
    this.#devices = structuredClone(snapshot.devices);
    this.#byId = new Map(this.#devices.map((device) => [device.id, device]));
    this.#extras = new Map(structuredClone(snapshot.extras));
    this.#raw = structuredClone(snapshot.raw);
    this.#journal = [];
    this.#cpids = new Set(this.#devices.map((device) => device.cpid));
    this.#serials = [...snapshot.serials];
    this.#silentPool = [...snapshot.silentPool];
    this.#silentIndex = new Map(this.#silentPool.map((id, index) => [id, index]));
    this.#buildRandom = seededRandom(snapshot.randoms.build);
    this.#churnRandom = seededRandom(snapshot.randoms.churn);
    this.#evolveRandom = seededRandom(snapshot.randoms.evolve);
    this.#ids = new UlidSequence(this.#buildRandom);
    this.#ids.restore(snapshot.ids);
    this.#stepStart = snapshot.stepStart;
    this.#pending = structuredClone(snapshot.pending);
    this.#pendingIndex = snapshot.pendingIndex;
  }

  /**
   * Rebuilds the seeded fleet and empties the journal: the same devices as first built, their
   * samples dated from the clock's current time.
   */
  reset(): void {
    const now = this.#clock.now();
    this.#devices = [];
    this.#byId = new Map();
    this.#extras = new Map();
    this.#raw = [];
    this.#journal = [];
    this.#cpids = new Set();
    this.#serials = MAKERS.map(() => 0);
    this.#silentPool = [];
    this.#silentIndex = new Map();
    this.#outage = new Set();
    this.#outageRandom = seedStream(this.#seed, 5);
    this.#buildRandom = seedStream(this.#seed, 2);
    this.#churnRandom = seedStream(this.#seed, 3);
    this.#evolveRandom = seedStream(this.#seed, 4);
    this.#ids = new UlidSequence(this.#buildRandom);

    // Ids spread over the two years before a fixed date, as a fleet installed over time would
    // be. Fixed rather than "now", so one seed gives the same ids at every start and the
    // sandbox's persisted state still matches its fleet after a restart.
    const span = 2 * 365 * DAY_MS;
    const averageStep = this.#initialSize > 0 ? span / this.#initialSize : 0;
    let idTime = FLEET_INSTALLED_BY - span;
    const random = this.#buildRandom;
    for (let i = 0; i < this.#initialSize; i++) {
      if (random() >= 0.15) idTime += Math.floor(random() * 2 * averageStep);
      const id = this.#ids.next(Math.min(idTime, FLEET_INSTALLED_BY - 1));
      const device = this.#makeDevice(id, now, {}, this.#createdAt);
      this.#devices.push(device);
    }

    this.#stepStart = now;
    this.#pending = this.#dynamic ? this.#drawStep(now) : [];
    this.#pendingIndex = 0;
  }

  list(): readonly SimDevice[] {
    const now = this.#catchUp();
    if (this.#dynamic) for (const device of this.#devices) this.#refresh(device, now);
    return this.#devices;
  }

  get(id: string): SimDevice | undefined {
    const now = this.#catchUp();
    const device = this.#byId.get(id);
    if (device !== undefined) this.#refresh(device, now);
    return device;
  }

  /** Extra per-device facts for rendering, or undefined for an unknown id. */
  extras(id: string): DeviceExtras | undefined {
    return this.#extras.get(id);
  }

  /** The meter reading as of the device's latest sample. */
  meterReading(device: SimDevice): number | null {
    const extras = this.#extras.get(device.id);
    const status = device.status;
    if (extras === undefined || status === null) return null;
    let wattHours = extras.meterWh;
    const rate = status.chargeRateWatts ?? 0;
    if (status.isCharging === true && rate > 0 && status.sampledAt > extras.meterAt) {
      wattHours += (rate * (status.sampledAt - extras.meterAt)) / HOUR_MS;
    }
    return Math.round(wattHours);
  }

  add(device: Partial<SimDevice> = {}): SimDevice {
    const now = this.#catchUp();
    return this.#addAt(device, now);
  }

  remove(id: string): boolean {
    const now = this.#catchUp();
    return this.#removeAt(id, now);
  }

  update(
    id: string,
    patch: Partial<Omit<SimDevice, "id" | "status">> & { status?: Partial<SimStatus> | null },
  ): SimDevice {
    const now = this.#catchUp();
    const device = this.#byId.get(id);
    if (device === undefined) throw new Error(`no device ${id}`);
    this.#refresh(device, now);
    if (patch.cpid !== undefined && patch.cpid !== device.cpid) {
      this.#cpids.delete(device.cpid);
      device.cpid = patch.cpid;
      this.#cpids.add(patch.cpid);
    }
    if ("rawOverride" in patch) {
      if (patch.rawOverride === undefined) delete device.rawOverride;
      else device.rawOverride = patch.rawOverride;
    }
    if ("lockMode" in patch && patch.lockMode !== undefined && patch.lockMode !== device.lockMode) {
      device.lockMode = patch.lockMode;
      this.#record(now, id, "lock-mode");
    }
    if (patch.status === null) {
      device.status = null;
    } else if (patch.status !== undefined) {
      const before = device.status;
      const sampledAt = patch.status.sampledAt ?? now;
      const loggedAt =
        patch.status.loggedAt ?? (patch.status.sampledAt === undefined ? now : sampledAt);
      this.#setStatus(device, { ...patch.status, sampledAt, loggedAt }, now, { exact: true });
      this.#recordStatusChanges(now, id, before, device.status);
    }
    return device;
  }

  addInvalidItem(afterId: string, item: Record<string, unknown>): void {
    // Stable: items added later for the same position come after earlier ones.
    this.#raw.splice(rawBound(this.#raw, afterId, false), 0, { afterId, item });
  }

  churn(fraction: number): SimChange[] {
    const now = this.#catchUp();
    const random = this.#churnRandom;
    const size = this.#devices.length;
    const count = Math.round(Math.min(1, Math.max(0, fraction)) * size);
    const chosen: SimDevice[] = [];
    if (count * 2 > size) {
      const order = this.#devices.slice();
      for (let i = 0; i < count; i++) {
        const j = i + Math.floor(random() * (size - i));
        const swap = order[j] as SimDevice;
        order[j] = order[i] as SimDevice;
        order[i] = swap;
        chosen.push(swap);
      }
    } else {
      const picked = new Set<number>();
      while (picked.size < count) picked.add(Math.floor(random() * size));
      for (const index of picked) chosen.push(this.#devices[index] as SimDevice);
    }
    const changes: SimChange[] = [];
    for (const device of chosen) {
      this.#refresh(device, now);
      changes.push(...this.#randomChange(device, now, random, false));
    }
    return changes;
  }

  silence(fraction: number, options: { sinceMs?: number } = {}): string[] {
    const now = this.#catchUp();
    const random = this.#outageRandom;
    const reporting = this.#devices.filter((device) => {
      const extras = this.#extras.get(device.id);
      return device.status !== null && extras !== undefined && !extras.silent;
    });
    const count = Math.round(Math.min(1, Math.max(0, fraction)) * reporting.length);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(random() * (reporting.length - i));
      const swap = reporting[j] as SimDevice;
      reporting[j] = reporting[i] as SimDevice;
      reporting[i] = swap;
    }
    const chosen = reporting.slice(0, count);
    const lastSample = now - Math.max(0, options.sinceMs ?? 0);
    for (const device of chosen) {
      this.#refresh(device, lastSample);
      const extras = this.#extras.get(device.id) as DeviceExtras;
      extras.silent = true;
      const status = device.status as SimStatus;
      if (status.sampledAt > lastSample) {
        status.sampledAt = lastSample;
        status.loggedAt = Math.min(status.loggedAt, lastSample + extras.lagMs);
      }
      this.#outage.add(device.id);
      this.#record(now, device.id, "fell-silent");
    }
    return chosen.map((device) => device.id).sort();
  }

  recover(): string[] {
    const now = this.#catchUp();
    const back: string[] = [];
    for (const id of this.#outage) {
      const device = this.#byId.get(id);
      const extras = this.#extras.get(id);
      if (device === undefined || extras === undefined) continue;
      extras.silent = false;
      if (device.status !== null) this.#setStatus(device, {}, now, { exact: false });
      this.#record(now, id, "came-back");
      back.push(id);
    }
    this.#outage.clear();
    return back.sort();
  }

  sampleAll(): number {
    const now = this.#catchUp();
    let sampled = 0;
    for (const device of this.#devices) {
      const extras = this.#extras.get(device.id);
      if (device.status === null || extras === undefined || extras.silent) continue;
      if (device.status.sampledAt < now) {
        device.status.sampledAt = now;
        device.status.loggedAt = now;
      }
      sampled += 1;
    }
    return sampled;
  }

  changes(): readonly SimChange[] {
    this.#catchUp();
    return this.#journal;
  }

  /** Up to `size` devices strictly after `cursor` (from the start when undefined). */
  pageAfter(cursor: string | undefined, size: number, cpid?: string): FleetPage {
    const now = this.#catchUp();
    const source =
      cpid === undefined ? this.#devices : this.#devices.filter((d) => d.cpid === cpid);
    const start = cursor === undefined ? 0 : bound(source, cursor, false);
    const end = Math.min(source.length, start + size);
    const devices = source.slice(start, end);
    const hasAfter = end < source.length;
    const lastId = devices.at(-1)?.id;
    // Raw items sit right after the last device whose id <= their afterId. Those after this
    // page's last device belong to the next page, unless no next page follows.
    let raw: { afterId: string; item: Record<string, unknown> }[] = [];
    if (cpid === undefined && this.#raw.length > 0) {
      const low = cursor === undefined ? 0 : rawBound(this.#raw, cursor, true);
      const high =
        hasAfter && lastId !== undefined ? rawBound(this.#raw, lastId, true) : this.#raw.length;
      raw = this.#raw.slice(low, Math.max(low, high));
    }
    const entries: ListEntry[] = [];
    let r = 0;
    for (const device of devices) {
      while (r < raw.length && (raw[r] as { afterId: string }).afterId < device.id) {
        entries.push({ kind: "raw", item: (raw[r] as { item: Record<string, unknown> }).item });
        r++;
      }
      this.#refresh(device, now);
      entries.push({ kind: "device", device });
    }
    for (; r < raw.length; r++) {
      entries.push({ kind: "raw", item: (raw[r] as { item: Record<string, unknown> }).item });
    }
    return { entries, firstId: devices[0]?.id, lastId, hasBefore: start > 0, hasAfter };
  }

  /** Up to `size` devices strictly before `cursor` (raw items are not served backwards). */
  pageBefore(cursor: string, size: number, cpid?: string): FleetPage {
    const now = this.#catchUp();
    const source =
      cpid === undefined ? this.#devices : this.#devices.filter((d) => d.cpid === cpid);
    const end = bound(source, cursor, true);
    const start = Math.max(0, end - size);
    const devices = source.slice(start, end);
    for (const device of devices) this.#refresh(device, now);
    return {
      entries: devices.map((device) => ({ kind: "device", device })),
      firstId: devices[0]?.id,
      lastId: devices.at(-1)?.id,
      hasBefore: start > 0,
      hasAfter: end < source.length,
    };
  }

  /** Counts for `/_sim/fleet`: online means sampled within `staleMs` of now. */
  summary(staleMs = 15 * MINUTE_MS): FleetSummary {
    const now = this.#catchUp();
    const summary: FleetSummary = {
      size: this.#devices.length,
      online: 0,
      offline: 0,
      neverReported: 0,
      pluggedIn: 0,
      charging: 0,
      silent: this.#silentPool.length,
      changes: this.#journal.length,
    };
    for (const device of this.#devices) {
      this.#refresh(device, now);
      const status = device.status;
      if (status === null) {
        summary.neverReported++;
        continue;
      }
      if (now - status.sampledAt <= staleMs) summary.online++;
      else summary.offline++;
      if (status.isPluggedIn === true) summary.pluggedIn++;
      if (status.isCharging === true) summary.charging++;
    }
    return summary;
  }

  /**
   * Applies every dynamic event up to `now`. A minute's events are drawn when the minute
   * starts and applied as time reaches each one, so a change is never dated before a sample
   * a request has already seen.
   */
  evolveTo(now: number): void {
    if (!this.#dynamic) return;
    for (;;) {
      while (this.#pendingIndex < this.#pending.length) {
        const event = this.#pending[this.#pendingIndex] as PendingEvent;
        if (event.at > now) return;
        this.#pendingIndex++;
        this.#applyEvent(event);
      }
      const nextStart = this.#stepStart + MINUTE_MS;
      if (nextStart > now) return;
      this.#stepStart = nextStart;
      this.#pending = this.#drawStep(nextStart);
      this.#pendingIndex = 0;
    }
  }

  #catchUp(): number {
    const now = this.#clock.now();
    this.evolveTo(now);
    return now;
  }

  #record(at: number, evseId: string, kind: SimChange["kind"]): SimChange {
    const change: SimChange = { at, evseId, kind };
    this.#journal.push(change);
    return change;
  }

  /** A device sampled at `at`; `initialAt` (the build time) marks the seeded fleet's devices. */
  #makeDevice(id: string, at: number, partial: Partial<SimDevice>, initialAt?: number): SimDevice {
    const initial = initialAt !== undefined;
    const random = this.#buildRandom;
    const makerRoll = random();
    let makerIndex = MAKERS.length - 1;
    for (let i = 0, acc = 0; i < MAKERS.length; i++) {
      acc += (MAKERS[i] as Maker).weight;
      if (makerRoll < acc) {
        makerIndex = i;
        break;
      }
    }
    let cpid = partial.cpid;
    if (cpid === undefined) {
      const maker = MAKERS[makerIndex] as Maker;
      do {
        const serial = this.#serials[makerIndex] ?? 0;
        this.#serials[makerIndex] = serial + 1;
        cpid = maker.cpid(serial, random);
      } while (this.#cpids.has(cpid));
    }
    const hasLocation = random() < 0.9;
    const extras: DeviceExtras = {
      modelId: pick(random, this.#modelIds[makerIndex] ?? []),
      userId: randomUlid(
        random,
        "user",
        (initialAt ?? at) - Math.floor(random() * 2 * 365 * DAY_MS),
      ),
      location: hasLocation
        ? {
            latitude: Math.round((50.1 + random() * 8.4) * 1e6) / 1e6,
            longitude: Math.round((-5.5 + random() * 7.2) * 1e6) / 1e6,
          }
        : null,
      silent: false,
      phaseMs: Math.floor(random() * REPORT_INTERVAL_MS),
      lagMs: 200 + Math.floor(random() * 8000),
      meterWh: Math.floor(random() * 20_000_000),
      meterAt: at,
    };
    const lockMode = "lockMode" in partial ? (partial.lockMode ?? null) : randomLockMode(random);
    let status: SimStatus | null;
    if ("status" in partial && partial.status !== undefined) {
      status = partial.status === null ? null : { ...partial.status };
    } else {
      status = this.#randomStatus(random, at, extras, initial);
    }
    const device: SimDevice = { id, cpid, lockMode, status };
    if (partial.rawOverride !== undefined) device.rawOverride = partial.rawOverride;
    this.#cpids.add(cpid);
    this.#byId.set(id, device);
    this.#extras.set(id, extras);
    if (extras.silent) this.#addSilent(id);
    return device;
  }

  /** A plausible status; `initial` fleets have never-reported and long-silent devices. */
  #randomStatus(random: Random, at: number, extras: DeviceExtras, initial: boolean) {
    if (initial && random() < 0.03) return null;
    const silent = initial && random() < 0.04;
    const pluggedIn = random() < 0.4;
    const charging = pluggedIn && random() < 0.5;
    const v2x = random() < 0.05;
    const exporting = v2x && pluggedIn && !charging && random() < 0.3;
    let sampledAt: number;
    if (silent) {
      extras.silent = true;
      sampledAt = at - 20 * MINUTE_MS - Math.floor(random() * 30 * DAY_MS);
    } else {
      sampledAt = at - extras.lagMs - Math.floor(random() * 150_000);
    }
    const status: SimStatus = {
      sampledAt,
      loggedAt: sampledAt + extras.lagMs,
      isPluggedIn: pluggedIn,
      isCharging: charging,
      chargeRateWatts: charging ? randomRate(random) : 0,
      exportPowerWatts: v2x ? (exporting ? 1000 + Math.floor(random() * 600) * 10 : 0) : null,
    };
    return status;
  }

  #addAt(partial: Partial<SimDevice>, at: number): SimDevice {
    let id = partial.id;
    if (id === undefined) {
      const last = this.#devices.at(-1)?.id;
      if (last !== undefined && !this.#ids.observe(last)) {
        throw new Error(`cannot make an id after ${last}: pass one explicitly`);
      }
      id = this.#ids.next(at);
    } else if (this.#byId.has(id)) {
      throw new Error(`device ${id} already exists`);
    }
    const device = this.#makeDevice(id, at, { ...partial, id });
    this.#devices.splice(bound(this.#devices, id, true), 0, device);
    this.#record(at, id, "appeared");
    return device;
  }

  #removeAt(id: string, at: number): boolean {
    const device = this.#byId.get(id);
    if (device === undefined) return false;
    const index = bound(this.#devices, id, true);
    this.#devices.splice(index, 1);
    this.#byId.delete(id);
    this.#extras.delete(id);
    this.#cpids.delete(device.cpid);
    this.#removeSilent(id);
    this.#outage.delete(id);
    this.#record(at, id, "disappeared");
    return true;
  }

  #addSilent(id: string): void {
    if (this.#silentIndex.has(id)) return;
    this.#silentIndex.set(id, this.#silentPool.length);
    this.#silentPool.push(id);
  }

  #removeSilent(id: string): void {
    const index = this.#silentIndex.get(id);
    if (index === undefined) return;
    const last = this.#silentPool.pop() as string;
    if (last !== id) {
      this.#silentPool[index] = last;
      this.#silentIndex.set(last, index);
    }
    this.#silentIndex.delete(id);
  }

  /** Moves an online device's sample to its latest periodic report (dynamic fleets only). */
  #refresh(device: SimDevice, now: number): void {
    if (!this.#dynamic || device.status === null) return;
    const extras = this.#extras.get(device.id);
    if (extras === undefined || extras.silent) return;
    const report =
      Math.floor((now - extras.lagMs - extras.phaseMs) / REPORT_INTERVAL_MS) * REPORT_INTERVAL_MS +
      extras.phaseMs;
    if (report > device.status.sampledAt) {
      device.status.sampledAt = report;
      device.status.loggedAt = report + extras.lagMs;
    }
  }

  /**
   * Replaces the status with `patch` applied, sampled at `at` (never at or before the
   * previous sample) unless `exact` keeps the patch's own times. Charging so far goes into
   * the meter first.
   */
  #setStatus(
    device: SimDevice,
    patch: Partial<SimStatus>,
    at: number,
    options: { exact: boolean },
  ): void {
    const extras = this.#extras.get(device.id);
    const before = device.status;
    if (extras !== undefined && before !== null) {
      const rate = before.chargeRateWatts ?? 0;
      if (before.isCharging === true && rate > 0 && at > extras.meterAt) {
        extras.meterWh += (rate * (at - extras.meterAt)) / HOUR_MS;
      }
      extras.meterAt = Math.max(extras.meterAt, at);
    }
    const lag = extras?.lagMs ?? 0;
    let sampledAt = patch.sampledAt ?? at - lag;
    if (!options.exact && before !== null) sampledAt = Math.max(sampledAt, before.sampledAt + 1);
    const loggedAt = patch.loggedAt ?? Math.max(at, sampledAt);
    device.status = {
      isPluggedIn: before?.isPluggedIn ?? false,
      isCharging: before?.isCharging ?? false,
      chargeRateWatts: before?.chargeRateWatts ?? 0,
      exportPowerWatts: before?.exportPowerWatts ?? null,
      ...patch,
      sampledAt,
      loggedAt,
    };
  }

  #recordStatusChanges(
    at: number,
    id: string,
    before: SimStatus | null,
    after: SimStatus | null,
  ): void {
    if (after === null) return;
    const wasPlugged = before?.isPluggedIn === true;
    const isPlugged = after.isPluggedIn === true;
    const wasCharging = before?.isCharging === true;
    const isCharging = after.isCharging === true;
    if (wasCharging && !isCharging) this.#record(at, id, "charging-stopped");
    if (!wasPlugged && isPlugged) this.#record(at, id, "plugged-in");
    if (wasPlugged && !isPlugged) this.#record(at, id, "unplugged");
    if (!wasCharging && isCharging) this.#record(at, id, "charging-started");
    if (
      wasCharging &&
      isCharging &&
      (before?.chargeRateWatts ?? null) !== (after.chargeRateWatts ?? null)
    ) {
      this.#record(at, id, "charge-rate");
    }
  }

  /** One random change among those that make sense for the device's state. */
  #randomChange(device: SimDevice, at: number, random: Random, allowSilence: boolean): SimChange[] {
    const extras = this.#extras.get(device.id);
    const status = device.status;
    const reporting = status !== null && extras !== undefined && !extras.silent;
    const kinds: ChangeKind[] = ["lock"];
    if (reporting) {
      kinds.push("plug");
      if (status.isPluggedIn === true) kinds.push("charge");
      if (status.isCharging === true) kinds.push("rate");
      if (allowSilence) kinds.push("silence");
    }
    let total = 0;
    for (const kind of kinds) total += KIND_WEIGHTS[kind];
    let roll = random() * total;
    let kind: ChangeKind = "lock";
    for (const candidate of kinds) {
      roll -= KIND_WEIGHTS[candidate];
      if (roll < 0) {
        kind = candidate;
        break;
      }
    }
    const id = device.id;
    const changes: SimChange[] = [];
    if (kind === "lock" || !reporting) {
      const modes: LockMode[] = ["UNLOCKED", "SMART", "LOCKED"];
      device.lockMode = pick(
        random,
        modes.filter((mode) => mode !== device.lockMode),
      );
      changes.push(this.#record(at, id, "lock-mode"));
      return changes;
    }
    const charging = status.isCharging === true;
    const exportIdle = status.exportPowerWatts === null ? null : 0;
    switch (kind) {
      case "plug":
        if (status.isPluggedIn === true) {
          this.#setStatus(
            device,
            {
              isPluggedIn: false,
              isCharging: false,
              chargeRateWatts: 0,
              exportPowerWatts: exportIdle,
            },
            at,
            { exact: false },
          );
          if (charging) changes.push(this.#record(at, id, "charging-stopped"));
          changes.push(this.#record(at, id, "unplugged"));
        } else {
          this.#setStatus(
            device,
            { isPluggedIn: true, isCharging: false, chargeRateWatts: 0 },
            at,
            { exact: false },
          );
          changes.push(this.#record(at, id, "plugged-in"));
        }
        break;
      case "charge":
        if (charging) {
          this.#setStatus(device, { isCharging: false, chargeRateWatts: 0 }, at, { exact: false });
          changes.push(this.#record(at, id, "charging-stopped"));
        } else {
          this.#setStatus(
            device,
            { isCharging: true, chargeRateWatts: randomRate(random), exportPowerWatts: exportIdle },
            at,
            { exact: false },
          );
          changes.push(this.#record(at, id, "charging-started"));
        }
        break;
      case "rate": {
        const old = status.chargeRateWatts ?? 0;
        let rate = randomRate(random);
        if (Math.abs(rate - old) < 1000) {
          rate = old + 1000 <= MAX_RATE_WATTS ? old + 1000 : Math.max(MIN_RATE_WATTS, old - 1000);
        }
        this.#setStatus(device, { chargeRateWatts: rate }, at, { exact: false });
        changes.push(this.#record(at, id, "charge-rate"));
        break;
      }
      case "silence":
        this.#refresh(device, at);
        extras.silent = true;
        this.#addSilent(id);
        changes.push(this.#record(at, id, "fell-silent"));
        break;
    }
    return changes;
  }

  #drawStep(start: number): PendingEvent[] {
    const random = this.#evolveRandom;
    const size = this.#devices.length;
    const events: PendingEvent[] = [];
    const draw = (type: PendingEvent["type"], mean: number) => {
      const count = poisson(random, mean);
      for (let i = 0; i < count; i++) {
        events.push({ at: start + Math.floor(random() * MINUTE_MS), type });
      }
    };
    draw("device", size * DEVICE_EVENT_RATE);
    draw("come-back", this.#silentPool.length * COME_BACK_RATE);
    // Small fleets still see an occasional newcomer; an empty fleet would otherwise stay empty.
    draw("appear", Math.max(size, 100) * APPEAR_RATE);
    draw("disappear", size * DISAPPEAR_RATE);
    return events.sort((a, b) => a.at - b.at);
  }

  #applyEvent(event: PendingEvent): void {
    const random = this.#evolveRandom;
    const size = this.#devices.length;
    switch (event.type) {
      case "device":
        if (size > 0) this.#randomChange(pick(random, this.#devices), event.at, random, true);
        break;
      case "come-back": {
        if (this.#silentPool.length === 0) break;
        const id = pick(random, this.#silentPool);
        const device = this.#byId.get(id);
        const extras = this.#extras.get(id);
        this.#removeSilent(id);
        if (device === undefined || extras === undefined) break;
        extras.silent = false;
        if (device.status !== null) this.#setStatus(device, {}, event.at, { exact: false });
        this.#record(event.at, id, "came-back");
        break;
      }
      case "appear":
        this.#addAt({}, event.at);
        break;
      case "disappear":
        if (size > 0) this.#removeAt(pick(random, this.#devices).id, event.at);
        break;
    }
  }
}
