import type { Clock, Random } from "../functions/ports.js";

/**
 * A clock that moves only when told to. `sleep` advances it at once instead of waiting, so code
 * that backs off or honours Retry-After runs instantly in tests while seeing time pass.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly sleeps: number[] = [];

  constructor(start: number | string = "2026-01-01T00:00:00.000Z") {
    this.#now = typeof start === "number" ? start : Date.parse(start);
  }

  now(): number {
    return this.#now;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.advance(ms);
  }

  advance(ms: number): void {
    this.#now += Math.max(0, ms);
  }
}

/**
 * Real time plus an offset that `advance` moves: the sandbox's simulated clock. The sandbox
 * keeps the offset with its data, so simulated time never goes back across a restart.
 */
export class OffsetClock implements Clock {
  #offset: number;
  readonly #wall: () => number;

  constructor(offsetMs = 0, wall: () => number = Date.now) {
    this.#offset = Math.max(0, offsetMs);
    this.#wall = wall;
  }

  /** How far simulated time is ahead of real time. */
  get offsetMs(): number {
    return this.#offset;
  }

  now(): number {
    return this.#wall() + this.#offset;
  }

  async sleep(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }

  advance(ms: number): void {
    this.#offset += Math.max(0, ms);
  }
}

/** A seeded generator whose `state()` seeds another that continues exactly where it stands. */
export type SeededRandom = Random & { state(): number };

/** mulberry32: a small, fast, seeded PRNG, so fleets and fault mixes are reproducible. */
export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.assign(next, { state: () => state });
}
