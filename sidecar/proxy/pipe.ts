import type { Duplex } from 'node:stream';
import type { Clock, Timer } from '../../common/clock.ts';
import type { ByteFlow, CloseReason } from './proxy-observer.ts';
import { takeReads } from './upstream-socket.ts';

export interface PipeOptions {
  readonly clock: Clock;
  /**
   * No byte in either direction for this long closes both sides (checked 8 times per period, so the close comes
   * up to a quarter period later). 0 or absent: no idle limit.
   */
  readonly idleTimeoutMs?: number;
  /** Hard cap on the connection's age. 0 or absent: unlimited. */
  readonly maxLifetimeMs?: number;
  /** Called per chunk; must be cheap and must not throw. */
  readonly onBytes?: (flow: ByteFlow, n: number) => void;
}

export interface PipeResult {
  readonly reason: CloseReason;
  readonly bytesDownstreamToUpstream: number;
  readonly bytesUpstreamToDownstream: number;
  readonly durationMs: number;
  readonly error?: Error;
  /** The side that finished sending first (an orderly end, not a reset), if either did. */
  readonly endedFirst?: PipeSide;
}

export type PipeSide = 'downstream' | 'upstream';

const IDLE_CHECKS_PER_PERIOD = 8;

/**
 * Pumps bytes both ways between two connected sockets until both are closed.
 *
 * Half-close: when one side ends its writing, the other side's write direction is ended and the reverse
 * direction stays open, so request/response protocols that shut down their write side still get the reply.
 * That only works if both sockets were created with `allowHalfOpen: true`; otherwise Node ends them itself.
 *
 * An error on either side, the idle timeout, the max lifetime or `close()` destroy both sides at once.
 * `closed` always resolves (never rejects) once both sockets have emitted 'close'.
 */
export class Pipe {
  readonly closed: Promise<PipeResult>;
  readonly #downstream: Duplex;
  readonly #upstream: Duplex;
  readonly #clock: Clock;
  readonly #startedAt: number;
  readonly #idleTimeoutMs: number;
  /** Bytes moved either way when the idle check last looked, and when it last saw that number change. */
  #seenBytes = 0;
  #seenAt: number;
  #idleTimer: Timer | undefined;
  #lifetimeTimer: Timer | undefined;
  #reason: CloseReason | undefined;
  #error: Error | undefined;
  #down = 0;
  #up = 0;
  #openSockets = 2;
  #endedFirst: PipeSide | undefined;
  #resolve!: (result: PipeResult) => void;

  constructor(downstream: Duplex, upstream: Duplex, options: PipeOptions) {
    this.#downstream = downstream;
    this.#upstream = upstream;
    this.#clock = options.clock;
    this.#startedAt = this.#seenAt = options.clock.now();
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.closed = new Promise((resolve) => (this.#resolve = resolve));
    const onBytes = options.onBytes;

    this.#pump('downstream', downstream, upstream, (n) => {
      this.#down += n;
      onBytes?.('downstream_to_upstream', n);
    });
    this.#pump('upstream', upstream, downstream, (n) => {
      this.#up += n;
      onBytes?.('upstream_to_downstream', n);
    });
    if (this.#idleTimeoutMs > 0) this.#armIdle();
    const maxLifetimeMs = options.maxLifetimeMs ?? 0;
    if (maxLifetimeMs > 0) {
      this.#lifetimeTimer = this.#clock.setTimer(maxLifetimeMs, () => this.close('max_lifetime'));
    }
    if (downstream.destroyed || upstream.destroyed) this.close('error');
  }

  get bytesDownstreamToUpstream(): number {
    return this.#down;
  }

  get bytesUpstreamToDownstream(): number {
    return this.#up;
  }

  /** Destroys both sides now. The first reason given (or observed) is the one reported. */
  close(reason: CloseReason, error?: Error): void {
    this.#reason ??= reason;
    if (error) this.#error ??= error;
    this.#downstream.destroy();
    this.#upstream.destroy();
  }

  #pump(side: PipeSide, from: Duplex, to: Duplex, count: (n: number) => void): void {
    // Per chunk: the count and the write. A full destination pauses the source until it drains,
    // so a slow reader holds at most its stream's high-water mark plus one chunk here (backpressure).
    let waitingForDrain = false;
    const forward = (chunk: Buffer): void => {
      count(chunk.length);
      if (!to.write(chunk) && !waitingForDrain) {
        waitingForDrain = true;
        from.pause();
        to.once('drain', () => {
          waitingForDrain = false;
          from.resume();
        });
      }
    };
    // The app leg's reads skip the Readable machinery (upstream-socket.ts); any other stream is read by 'data'.
    if (!takeReads(from, forward)) from.on('data', forward);
    from.once('end', () => {
      this.#endedFirst ??= side;
      // Half-close: pass the end on and keep the other direction open.
      to.end();
    });
    from.on('error', (err: Error) => this.close('error', err));
    const onClose = (): void => {
      // A side that closed without finishing its reading (reset, destroyed) takes the other one with it.
      if (!from.readableEnded) this.close(this.#reason ?? 'error', this.#error);
      this.#openSockets -= 1;
      if (this.#openSockets === 0) this.#finish();
    };
    if (from.closed) queueMicrotask(onClose);
    else from.once('close', onClose);
    // Also starts a socket accepted with pauseOnConnect, which a 'data' listener alone leaves paused.
    if (!waitingForDrain) from.resume();
  }

  #armIdle(): void {
    // Looked at a few times per period rather than stamped with the clock on every chunk (a clock read per chunk is
    // a measurable part of a small request's cost): the connection closes after between idleTimeoutMs and
    // (1 + 2 / IDLE_CHECKS_PER_PERIOD) times that without a byte moving either way.
    const stepMs = Math.max(1, Math.ceil(this.#idleTimeoutMs / IDLE_CHECKS_PER_PERIOD));
    this.#idleTimer = this.#clock.setTimer(stepMs, () => {
      const now = this.#clock.now();
      const moved = this.#down + this.#up;
      if (moved !== this.#seenBytes) {
        this.#seenBytes = moved;
        this.#seenAt = now;
      } else if (now - this.#seenAt >= this.#idleTimeoutMs) {
        this.close('idle_timeout');
        return;
      }
      this.#armIdle();
    });
  }

  #finish(): void {
    this.#idleTimer?.cancel();
    this.#lifetimeTimer?.cancel();
    const result: PipeResult = {
      reason: this.#reason ?? 'done',
      bytesDownstreamToUpstream: this.#down,
      bytesUpstreamToDownstream: this.#up,
      durationMs: this.#clock.now() - this.#startedAt,
      ...(this.#error ? { error: this.#error } : {}),
      ...(this.#endedFirst ? { endedFirst: this.#endedFirst } : {}),
    };
    this.#resolve(result);
  }
}
