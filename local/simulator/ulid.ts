import type { Random } from "../../functions/ports.js";

/** Crockford base32, in ascending ASCII order, so digit order and string order agree. */
export const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

const TIME_DIGITS = 10;
const RANDOM_DIGITS = 16;
const BODY_DIGITS = TIME_DIGITS + RANDOM_DIGITS;
const DIGIT_OF = new Map([...CROCKFORD].map((char, value) => [char, value]));

function encodeTime(time: number, digits: number[]): void {
  let rest = Math.max(0, Math.floor(time));
  for (let i = TIME_DIGITS - 1; i >= 0; i--) {
    digits[i] = rest % 32;
    rest = Math.floor(rest / 32);
  }
}

function decodeTime(digits: readonly number[]): number {
  let time = 0;
  for (let i = 0; i < TIME_DIGITS; i++) time = time * 32 + (digits[i] ?? 0);
  return time;
}

function render(prefix: string, digits: readonly number[]): string {
  let body = "";
  for (const digit of digits) body += CROCKFORD[digit];
  return prefix + body;
}

/** A one-off ULID-like id (`user…`, `emod…`) for references that need no ordering. */
export function randomUlid(random: Random, prefix: string, time: number): string {
  const digits = new Array<number>(BODY_DIGITS).fill(0);
  encodeTime(time, digits);
  for (let i = TIME_DIGITS; i < BODY_DIGITS; i++) digits[i] = Math.floor(random() * 32);
  return render(prefix, digits);
}

/**
 * Monotonic ULID-like ids (`prefix` + 10 time digits + 16 random digits): each id sorts after
 * every id produced or observed before it. A later time starts a fresh random part; the same or
 * an earlier time increments the previous id by a random step, as monotonic ULIDs do.
 */
export class UlidSequence {
  readonly #random: Random;
  readonly #prefix: string;
  #digits: number[] | undefined;
  #time = -1;

  constructor(random: Random, prefix = "evse") {
    this.#random = random;
    this.#prefix = prefix;
  }

  /** The next id, with its time part at `time` unless that would not sort last. */
  next(time: number): string {
    const digits = this.#digits;
    if (digits === undefined || time > this.#time) {
      const fresh = new Array<number>(BODY_DIGITS).fill(0);
      encodeTime(time, fresh);
      // The first random digit stays below 16 so increments never run out of room.
      fresh[TIME_DIGITS] = Math.floor(this.#random() * 16);
      for (let i = TIME_DIGITS + 1; i < BODY_DIGITS; i++) {
        fresh[i] = Math.floor(this.#random() * 32);
      }
      this.#digits = fresh;
      this.#time = Math.max(0, Math.floor(time));
    } else {
      let carry = 1 + Math.floor(this.#random() * 2 ** 20);
      for (let i = BODY_DIGITS - 1; i >= 0 && carry > 0; i--) {
        const sum = (digits[i] ?? 0) + carry;
        digits[i] = sum % 32;
        carry = Math.floor(sum / 32);
      }
      if (carry > 0) throw new Error("ULID space exhausted");
      this.#time = decodeTime(digits);
    }
    return render(this.#prefix, this.#digits ?? []);
  }

  /** Where the sequence stands, for `restore`. */
  snapshot(): { digits: number[] | undefined; time: number } {
    return { digits: this.#digits === undefined ? undefined : [...this.#digits], time: this.#time };
  }

  restore(state: { digits: number[] | undefined; time: number }): void {
    this.#digits = state.digits === undefined ? undefined : [...state.digits];
    this.#time = state.time;
  }

  /**
   * Makes later ids sort after `id`. Returns false when `id` sorts after the sequence but is
   * not one of its ids (wrong prefix, length or alphabet), so no later id can be promised.
   */
  observe(id: string): boolean {
    const current = this.#digits === undefined ? "" : render(this.#prefix, this.#digits);
    if (id <= current) return true;
    const parsed = parseUlid(id, this.#prefix);
    if (parsed === undefined) return false;
    this.#digits = parsed;
    this.#time = decodeTime(parsed);
    return true;
  }
}

function parseUlid(id: string, prefix: string): number[] | undefined {
  if (!id.startsWith(prefix) || id.length !== prefix.length + BODY_DIGITS) return undefined;
  const digits: number[] = [];
  for (const char of id.slice(prefix.length)) {
    const value = DIGIT_OF.get(char);
    if (value === undefined) return undefined;
    digits.push(value);
  }
  // A time part past 48 bits is not a ULID; refuse rather than overflow later.
  return (digits[0] ?? 0) > 7 ? undefined : digits;
}
