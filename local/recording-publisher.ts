import type { ChangeEvent } from "../functions/core/device-state.js";
import type { EventPublisher } from "../functions/ports.js";

/**
 * The local stand-in for the EventBridge bus: keeps every published event in order and hands
 * each to `onEvent` (the sandbox's live feed). There is no local EventBridge to run.
 */
export class RecordingPublisher implements EventPublisher {
  readonly events: ChangeEvent[] = [];

  constructor(private readonly onEvent?: (event: ChangeEvent) => void) {}

  async publish(events: readonly ChangeEvent[]): Promise<{ failed: ChangeEvent[] }> {
    for (const event of events) {
      this.events.push(event);
      this.onEvent?.(event);
    }
    return { failed: [] };
  }
}
