import type { SigilEvent } from '../../common/events/sigil-event.ts';

/**
 * Pushes signed events to every subscriber (DESIGN.md section 5). Delivery is best effort: subscribers also
 * converge over gRPC FetchTrust, so a lost event costs latency, never correctness.
 */
export interface EventPublisher {
  /**
   * Allocates the next sequence of the event's kind (persisted: it only grows, across restarts too), signs the
   * event and hands it to the transport. Resolves with that sequence once handed over, not once delivered.
   * Calls are published in call order.
   */
  publish(event: SigilEvent): Promise<{ readonly sequence: number }>;
  close(): Promise<void>;
}
