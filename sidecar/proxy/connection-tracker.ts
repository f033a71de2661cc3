import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../common/clock.ts';
import type { ConnectionInfo } from './peer-info.ts';
import type { CloseReason } from './proxy-observer.ts';

/** A piped connection the tracker can close. */
export interface TrackedConnection {
  readonly info: ConnectionInfo;
  close(reason: CloseReason): void;
  readonly closed: Promise<unknown>;
}

export interface StopOptions {
  /** How long open connections may keep going after the listener stops accepting. */
  readonly drainTimeoutMs: number;
}

export interface StopResult {
  /** Connections (or half-made ones) destroyed because the drain timeout ran out. */
  readonly forcedClosed: number;
}

/**
 * Knows every socket a listener owns — handshaking, authorising and piped — so that shutdown can wait for
 * them and `closeWhere` can cut the piped ones whose peer has become unacceptable (e.g. revoked).
 */
export class ConnectionTracker {
  readonly #sockets = new Set<Duplex>();
  readonly #connections = new Map<number, TrackedConnection>();
  #nextId = 1;
  #idleWaiters: (() => void)[] = [];

  nextId(): number {
    return this.#nextId++;
  }

  /** Tracks a socket until it closes. */
  trackSocket(socket: Duplex): void {
    if (socket.closed) return;
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#checkIdle();
    });
  }

  add(connection: TrackedConnection): void {
    this.#connections.set(connection.info.id, connection);
    void connection.closed.then(() => {
      this.#connections.delete(connection.info.id);
      this.#checkIdle();
    });
  }

  get size(): number {
    return this.#connections.size;
  }

  list(): ConnectionInfo[] {
    return [...this.#connections.values()].map((c) => c.info);
  }

  /** Closes every piped connection matching `predicate`; returns how many. */
  closeWhere(predicate: (info: ConnectionInfo) => boolean, reason: CloseReason = 'closed_by_request'): number {
    let closed = 0;
    for (const connection of [...this.#connections.values()]) {
      if (predicate(connection.info)) {
        connection.close(reason);
        closed += 1;
      }
    }
    return closed;
  }

  /** Resolves when no socket is left. */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Destroys everything still open; returns how many connections (or unpiped sockets) that was. */
  destroyAll(reason: CloseReason): number {
    const piped = [...this.#connections.values()];
    for (const connection of piped) connection.close(reason);
    const loose = [...this.#sockets].filter((s) => !s.destroyed);
    for (const socket of loose) socket.destroy();
    return piped.length + loose.length;
  }

  #isIdle(): boolean {
    return this.#sockets.size === 0 && this.#connections.size === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * Graceful stop: stop accepting at once, let open connections finish for up to `drainTimeoutMs`, then
 * destroy what is left. Resolves once the server has closed.
 */
export async function stopServer(
  server: Server,
  tracker: ConnectionTracker,
  options: StopOptions & { readonly clock: Clock },
): Promise<StopResult> {
  const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  let timer: { cancel(): void } | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = options.clock.setTimer(options.drainTimeoutMs, () => resolve('timeout'));
  });
  const outcome = await Promise.race([tracker.whenIdle().then(() => 'drained' as const), timedOut]);
  timer?.cancel();
  const forcedClosed = outcome === 'timeout' ? tracker.destroyAll('shutdown') : 0;
  await serverClosed;
  return { forcedClosed };
}
