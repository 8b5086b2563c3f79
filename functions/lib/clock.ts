import { setTimeout as delay } from "node:timers/promises";
import type { Clock, Random } from "../ports.js";

/** The real clock, for Lambda and the sandbox. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => delay(Math.max(0, ms)).then(() => undefined),
};

export const systemRandom: Random = Math.random;
