import type { Clock, Timer } from '../../common/clock.ts';
import { isSigilError } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { TrustStateWire } from '../identity/grpc-identity-api.ts';

/** The gRPC side of the trust state: what FetchTrust returns. */
export interface TrustFetcher {
  fetchTrust(): Promise<TrustStateWire>;
}

/**
 * Fetches the full trust state over gRPC every `intervalMs`, whatever NATS is doing, and at once when asked
 * (NATS reconnected, a gap was seen). Failures are logged and retried at the next tick; the state in force stays.
 */
export interface TrustRefresherDeps {
  readonly fetcher: TrustFetcher;
  /** Applies a full state (bundle, revocations, policies); may throw for a malformed one. */
  readonly apply: (state: TrustStateWire) => void;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told after every fetch, for metrics. */
  readonly onResult?: (ok: boolean) => void;
}

export class TrustRefresher {
  readonly #intervalMs: number;
  readonly #deps: TrustRefresherDeps;
  #timer: Timer | undefined;
  #inFlight: Promise<boolean> | undefined;
  #stopped = false;

  constructor(options: { intervalMs: number }, deps: TrustRefresherDeps) {
    this.#intervalMs = options.intervalMs;
    this.#deps = deps;
  }

  start(): void {
    this.#stopped = false;
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Fetches now (coalescing concurrent requests); resolves true when the state was confirmed. */
  refreshNow(reason: string): Promise<boolean> {
    this.#inFlight ??= this.#fetch(reason).finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #fetch(reason: string): Promise<boolean> {
    const { fetcher, logger } = this.#deps;
    try {
      this.#deps.apply(await fetcher.fetchTrust());
      this.#deps.onResult?.(true);
      return true;
    } catch (err) {
      logger.warn(
        { err, [LogField.errCode]: isSigilError(err) ? err.code : undefined, reason },
        'fetching the trust state failed; keeping the current one',
      );
      this.#deps.onResult?.(false);
      return false;
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#deps.clock.setTimer(this.#intervalMs, () => {
      void this.refreshNow('interval').finally(() => this.#arm());
    });
  }
}
