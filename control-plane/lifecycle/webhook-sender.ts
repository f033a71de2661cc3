import { createHmac } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import type { AlertDeliveryRecord, Store } from '../store/store.ts';

/**
 * Delivers alert events to one webhook: a JSON body signed with HMAC-SHA256 over the exact bytes sent (header
 * `X-Sigil-Signature: sha256=<hex>`), retried with capped exponential backoff until a 2xx or `maxAttempts`. Every
 * attempt is recorded in the store. `send` returns at once: a receiver that is down or slow never holds up the alert
 * loop, issuance or anything else; retries run on the clock's timers.
 */

export interface WebhookTarget {
  readonly url: string;
  /** The shared secret (read from `secretFile` at start); never logged or recorded. */
  readonly secret: string;
}

export interface WebhookSenderOptions {
  readonly target: WebhookTarget;
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timeoutMs?: number;
}

export interface WebhookSenderDeps {
  readonly store: Pick<Store, 'recordAlertDelivery'>;
  readonly clock: Clock;
  /** Injected for tests; the global fetch by default. */
  readonly fetch?: typeof fetch;
  readonly onGiveUp?: (alertId: string, detail: string) => void;
}

export interface AlertEvent {
  readonly alertId: string;
  readonly event: 'raised' | 'resolved';
  /** The JSON document sent. */
  readonly body: Readonly<Record<string, unknown>>;
}

export const SIGNATURE_HEADER = 'x-sigil-signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The delay before attempt `n + 1` after `n` failures: initial * 2^(n-1), capped. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
}

export class WebhookSender {
  readonly #o: Required<WebhookSenderOptions>;
  readonly #deps: WebhookSenderDeps;
  readonly #pending = new Set<{ cancel(): void }>();
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(options: WebhookSenderOptions, deps: WebhookSenderDeps) {
    this.#o = { maxAttempts: 8, initialBackoffMs: 1000, maxBackoffMs: 300_000, timeoutMs: 10_000, ...options };
    this.#deps = deps;
  }

  send(event: AlertEvent): void {
    const body = JSON.stringify(event.body);
    void this.#attempt(event, body, 1);
  }

  /** Resolves when no attempt is running or scheduled: lets tests and shutdown wait without sleeping. */
  settled(): Promise<void> {
    if (this.#inFlight === 0 && this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stop(): void {
    for (const timer of this.#pending) timer.cancel();
    this.#pending.clear();
    this.#checkIdle();
  }

  async #attempt(event: AlertEvent, body: string, attempt: number): Promise<void> {
    this.#inFlight++;
    const attemptedAt = this.#deps.clock.now();
    let outcome: AlertDeliveryRecord['outcome'] = 'failed';
    let detail: string;
    try {
      const res = await (this.#deps.fetch ?? fetch)(this.#o.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signBody(this.#o.target.secret, body),
          'x-sigil-delivery': `${event.alertId}/${event.event}/${attempt}`,
        },
        body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await res.body?.cancel();
      detail = `HTTP ${res.status}`;
      if (res.ok) outcome = 'delivered';
    } catch (err) {
      detail =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${this.#o.timeoutMs} ms`
          : String((err as Error).message);
    }
    await this.#deps.store
      .recordAlertDelivery({
        deliveryId: `${event.alertId}/${event.event}/webhook/${this.#o.target.url}/${attempt}`,
        alertId: event.alertId,
        event: event.event,
        channel: 'webhook',
        target: this.#o.target.url,
        attempt,
        attemptedAt,
        outcome,
        detail,
      })
      .catch(() => undefined);
    this.#inFlight--;
    if (outcome === 'failed') {
      if (attempt >= this.#o.maxAttempts) this.#deps.onGiveUp?.(event.alertId, detail);
      else {
        const timer = this.#deps.clock.setTimer(
          backoffMs(attempt, this.#o.initialBackoffMs, this.#o.maxBackoffMs),
          () => {
            this.#pending.delete(timer);
            void this.#attempt(event, body, attempt + 1);
          },
        );
        this.#pending.add(timer);
      }
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#inFlight > 0 || this.#pending.size > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
