import type { Clock } from './clock.ts';
import { ErrorCode, isSigilError, SigilError } from './errors.ts';
import { parseHostPort } from './address.ts';

/**
 * Several control-plane replicas behind several addresses (a list, or a DNS name with several A records): which one
 * a call goes to, and what happens when it is down. Pure policy; the gRPC clients supply the call and the DNS lookup.
 *
 * A call goes first to the address that last answered (replicas are equivalent, so staying put keeps connections
 * warm), then to the others, starting at a random one so that clients leaving a dead replica spread over the living
 * ones. Only UNAVAILABLE moves a call on (the replica is down, restarting, or has lost its database); any other
 * answer is the answer. Between two addresses the client waits a short jittered delay, so a fleet of sidecars that
 * lost the same replica does not arrive at the next one in step.
 */
export interface AddressFailoverOptions {
  /** host:port entries; a host may be a DNS name that resolves to several addresses. */
  readonly addresses: readonly string[];
  /** [0, 1): seeded in tests. */
  readonly random: () => number;
  /** Waits between two addresses; default a timer of `clock`. */
  readonly clock: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Upper bound of the pause before the second address; it doubles per address after, up to maxDelayMs. Default 50. */
  readonly baseDelayMs?: number;
  /** Default 1000. */
  readonly maxDelayMs?: number;
  /** Expands one address into the addresses to try (DNS); default: itself. */
  readonly resolve?: (address: string) => Promise<readonly string[]>;
}

/** `a:1,b:2` or a list, each host:port; duplicates dropped, order kept. Throws CONFIG_INVALID naming the bad one. */
export function parseAddressList(input: string | readonly string[], what: string): string[] {
  const items = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0)
    throw new SigilError(ErrorCode.CONFIG_INVALID, `${what} is empty: give at least one host:port`);
  for (const item of items) {
    try {
      parseHostPort(item, what);
    } catch (err) {
      throw new SigilError(ErrorCode.CONFIG_INVALID, (err as Error).message, { cause: err });
    }
  }
  return [...new Set(items)];
}

/** UNAVAILABLE: the replica did not answer (or cannot serve); try another. */
export function isFailoverError(err: unknown): boolean {
  return isSigilError(err, ErrorCode.UNAVAILABLE);
}

export class AddressFailover {
  readonly #options: AddressFailoverOptions;
  #preferred: string | undefined;

  constructor(options: AddressFailoverOptions) {
    if (options.addresses.length === 0)
      throw new SigilError(ErrorCode.CONFIG_INVALID, 'no control-plane address given');
    this.#options = options;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#options.sleep) return this.#options.sleep(ms);
    return new Promise<void>((resolve) => this.#options.clock.setTimer(ms, resolve));
  }

  /** The address that answered last, if any. */
  get preferred(): string | undefined {
    return this.#preferred;
  }

  /** The addresses one call tries, in order: the last one that answered first, the rest from a random start. */
  async order(): Promise<string[]> {
    const resolve = this.#options.resolve ?? (async (a: string) => [a]);
    const expanded = (await Promise.all(this.#options.addresses.map((a) => resolve(a).catch(() => [a])))).flat();
    const all = [...new Set(expanded.length > 0 ? expanded : this.#options.addresses)];
    const start = Math.floor(this.#options.random() * all.length) % all.length;
    const rotated = [...all.slice(start), ...all.slice(0, start)];
    const preferred = this.#preferred;
    return preferred !== undefined && rotated.includes(preferred)
      ? [preferred, ...rotated.filter((a) => a !== preferred)]
      : rotated;
  }

  /** The jittered pause before the attempt with this index (0 = first address: none). */
  delayMs(attempt: number): number {
    if (attempt <= 0) return 0;
    const base = this.#options.baseDelayMs ?? 50;
    const cap = Math.min(this.#options.maxDelayMs ?? 1000, base * 2 ** (attempt - 1));
    return Math.floor(this.#options.random() * cap);
  }

  /**
   * Runs `attempt` against each address in turn until one answers with anything but UNAVAILABLE. When every address
   * is unavailable, the error says which were tried (the last one's reason included).
   */
  async call<T>(context: string, attempt: (address: string) => Promise<T>): Promise<T> {
    const order = await this.order();
    const failures: string[] = [];
    let last: unknown;
    for (const [i, address] of order.entries()) {
      const delay = this.delayMs(i);
      if (delay > 0) await this.#sleep(delay);
      try {
        const result = await attempt(address);
        this.#preferred = address;
        return result;
      } catch (err) {
        if (!isFailoverError(err)) {
          // The replica answered: it is alive, and the refusal is the answer.
          this.#preferred = address;
          throw err;
        }
        last = err;
        failures.push(address);
      }
    }
    if (order.length === 1) throw last;
    throw new SigilError(
      ErrorCode.UNAVAILABLE,
      `${context}: no control-plane replica answered (tried ${failures.join(', ')}); last: ${(last as Error)?.message ?? String(last)}`,
      { cause: last },
    );
  }
}
