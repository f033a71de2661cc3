import { randomBytes } from 'node:crypto';
import type { Clock, Timer } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';

/** Node's ticket key block: 16 bytes name, 16 bytes HMAC secret, 16 bytes AES key. */
export const TICKET_KEYS_BYTES = 48;

export interface TicketKeyTarget {
  setTicketKeys(keys: Buffer): void;
}

export interface TicketKeyRotatorOptions {
  readonly target: TicketKeyTarget;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Injectable for tests; default crypto.randomBytes. */
  readonly randomBytes?: (n: number) => Buffer;
}

/**
 * Replaces a server's session ticket keys now and then every `intervalMs`. Node keeps no previous key: a ticket
 * sealed under a replaced key no longer decrypts, so its holder falls back to a full handshake. That is the point
 * of `rotate()` on a trust change: a session accepted under the old bundle can never be resumed under the new one.
 */
export class TicketKeyRotator {
  readonly #options: TicketKeyRotatorOptions;
  readonly #random: (n: number) => Buffer;
  #timer: Timer | undefined;
  #stopped = true;
  #rotations = 0;

  constructor(options: TicketKeyRotatorOptions) {
    this.#options = options;
    this.#random = options.randomBytes ?? randomBytes;
  }

  /** How many times the keys were replaced (the first set included). */
  get rotations(): number {
    return this.#rotations;
  }

  start(): void {
    this.#stopped = false;
    this.rotate('start');
  }

  /** Replaces the keys at once and restarts the schedule. */
  rotate(reason: string): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#options.target.setTicketKeys(this.#random(TICKET_KEYS_BYTES));
    this.#rotations += 1;
    if (reason !== 'start' && reason !== 'schedule')
      this.#options.logger.info({ reason }, 'session ticket keys rotated');
    this.#timer = this.#options.clock.setTimer(this.#options.intervalMs, () => this.rotate('schedule'));
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
