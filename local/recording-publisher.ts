import type { ChangeEvent } from "../functions/core/device-state.js";
import type { BusEvent, EventPublisher } from "../functions/ports.js";

/**
 * The local stand-in for the EventBridge bus: keeps every published event in order and hands
 * each to `onEvent` (the sandbox's live feed). There is no local EventBridge to run.
 */
export class RecordingPublisher<E extends BusEvent = ChangeEvent> implements EventPublisher<E> {
  readonly events: E[] = [];

  constructor(private readonly onEvent?: (event: E) => void) {}

  async publish(events: readonly E[]): Promise<{ failed: E[] }> {
    for (const event of events) {
      this.events.push(event);
      this.onEvent?.(event);
    }
    return { failed: [] };
  }
}
