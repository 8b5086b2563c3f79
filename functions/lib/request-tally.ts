import type { RequestObserver } from "../ports.js";

/** Counts the requests a process sends to ev.energy (token exchanges and retries included). */
export class RequestTally {
  #count = 0;
  readonly observe: RequestObserver = () => {
    this.#count += 1;
  };
  get count(): number {
    return this.#count;
  }
}
