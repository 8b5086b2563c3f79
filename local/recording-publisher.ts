import type { ChangeEvent } from "../functions/core/device-state.js";
import type { BusEvent, EventPublisher } from "../functions/ports.js";

/**
 * The local stand-ins for the EventBridge bus (there is no local EventBridge to run).
 * `RecordingPublisher` keeps every published event in order, for tests to read back.
 */
export class RecordingPublisher<E extends BusEvent = ChangeEvent> implements EventPublisher<E> {
  readonly events: E[] = [];

  async publish(events: readonly E[]): Promise<{ failed: E[] }> {
    this.events.push(...events);
    return { failed: [] };
  }
}

/**
 * Hands each published event to `onEvent` and keeps none: the live feed of the sandbox and the
 * one-shot CLI, which may run for days.
 */
export function feedPublisher<E extends BusEvent = ChangeEvent>(
  onEvent: (event: E) => void,
): EventPublisher<E> {
  return {
    async publish(events) {
      for (const event of events) onEvent(event);
      return { failed: [] };
    },
  };
}
