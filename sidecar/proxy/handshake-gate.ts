import { isIPv6 } from 'node:net';
import { ErrorCode, SigilError } from '../../common/errors.ts';

export interface HandshakeLimits {
  /** A handshake not finished this long after the connection was accepted is dropped, trickle or not. */
  readonly handshakeTimeoutMs?: number;
  /** Handshakes in progress at once on one listener; connections beyond are closed at once. */
  readonly maxPendingHandshakes?: number;
  /** Handshakes in progress at once from one source address (IPv6: one /64); beyond are closed at once. */
  readonly maxPendingHandshakesPerSource?: number;
}

export const HANDSHAKE_DEFAULTS = Object.freeze({
  handshakeTimeoutMs: 10_000,
  maxPendingHandshakes: 1024,
  maxPendingHandshakesPerSource: 64,
});

export type GateRefusal = 'pending_handshakes' | 'pending_handshakes_per_source';

/** The slot an admitted connection holds until its handshake ends one way or the other. */
export interface PendingSlot {
  /** Frees the slot; idempotent. Call on handshake success and on close. */
  release(): void;
}

export function checkHandshakeLimits(limits: HandshakeLimits): void {
  const positiveInt = (name: string, value: number | undefined): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new SigilError(ErrorCode.CONFIG_INVALID, `${name} must be an integer >= 1, got ${value}`);
    }
  };
  positiveInt('handshakeTimeoutMs', limits.handshakeTimeoutMs);
  positiveInt('maxPendingHandshakes', limits.maxPendingHandshakes);
  positiveInt('maxPendingHandshakesPerSource', limits.maxPendingHandshakesPerSource);
}

/**
 * Admission of not-yet-authenticated connections (slowloris). A connection takes a slot when accepted and gives
 * it back when its handshake completes or the socket closes; past either cap it is closed before it costs more
 * than the accept. The deadline itself is the TLS server's `handshakeTimeout`, which counts from the accept however
 * slowly the client trickles bytes. Per-source counts are forgotten when they reach zero, so the gate holds memory
 * for pending connections only, whatever the number of sources seen.
 */
export class HandshakeGate {
  readonly #max: number;
  readonly #maxPerSource: number;
  readonly #perSource = new Map<string, number>();
  #pending = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(limits: HandshakeLimits) {
    checkHandshakeLimits(limits);
    this.#max = limits.maxPendingHandshakes ?? HANDSHAKE_DEFAULTS.maxPendingHandshakes;
    this.#maxPerSource = limits.maxPendingHandshakesPerSource ?? HANDSHAKE_DEFAULTS.maxPendingHandshakesPerSource;
  }

  get pending(): number {
    return this.#pending;
  }

  /** Resolves once no handshake is pending (e.g. after a flood's sockets have all closed). */
  whenNonePending(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Pending handshakes from one source address. */
  pendingFrom(remoteAddress: string | undefined): number {
    return this.#perSource.get(sourceKey(remoteAddress)) ?? 0;
  }

  /** Takes a slot for a new connection, or says why not. */
  admit(remoteAddress: string | undefined): PendingSlot | GateRefusal {
    const key = sourceKey(remoteAddress);
    const fromSource = this.#perSource.get(key) ?? 0;
    if (fromSource >= this.#maxPerSource) return 'pending_handshakes_per_source';
    if (this.#pending >= this.#max) return 'pending_handshakes';
    this.#perSource.set(key, fromSource + 1);
    this.#pending += 1;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#pending -= 1;
      const left = (this.#perSource.get(key) ?? 1) - 1;
      if (left > 0) this.#perSource.set(key, left);
      else this.#perSource.delete(key);
      if (this.#pending === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    };
    return { release };
  }
}

/**
 * The unit a per-source cap applies to: an IPv4 address (IPv4-mapped IPv6 included), or the /64 of an IPv6 one,
 * since a single IPv6 host usually owns a whole /64 and could otherwise rotate addresses.
 */
export function sourceKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '';
  // Plain IPv4, the common case, is its own key: no pattern to run per connection.
  if (!remoteAddress.includes(':')) return remoteAddress;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped?.[1]) return mapped[1];
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const [head = '', tail] = remoteAddress.toLowerCase().split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
