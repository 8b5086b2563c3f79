import type { RequestObserver } from "../ports.js";

/** Counts the requests a process sends to ev.energy (token exchanges and retries included). */
export class RequestTally {
  #count = 0;
  #tokenExchanges = 0;
  readonly observe: RequestObserver = (request) => {
    this.#count += 1;
    if (request.kind === "token") this.#tokenExchanges += 1;
  };
  get count(): number {
    return this.#count;
  }
  /** The token exchanges among them: shared by whichever calls were waiting for a token. */
  get tokenExchanges(): number {
    return this.#tokenExchanges;
  }
}
