import pg from 'pg';
import type { Clock, Timer } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import {
  type ChangeKind,
  type ChangeSignal,
  type Coordination,
  LeadershipState,
  LocalLocks,
} from '../ha/coordination.ts';
import { type PgErrorContext, translatePgError } from './postgres-errors.ts';
import { SIGIL_LOCK_CLASS } from './postgres-open.ts';

export interface PostgresCoordinationOptions {
  readonly url: string;
  readonly schema: string;
  /** Tells this replica's own announcements apart from the others'. */
  readonly replicaId: string;
  /** How often a follower asks for the leader lock and the leader checks its connection. Default 1000. */
  readonly pollMs?: number;
  /**
   * PostgreSQL ends the session of a leader that stopped answering (frozen, not dead) after this long, releasing
   * its lock (idle_session_timeout, PostgreSQL 14+). Default 10000; the leader's polls keep a live session busy.
   */
  readonly hungLeaderTimeoutMs?: number;
  /** Connections for `exclusive`, apart from the store's pool so a held lock never starves the store. Default 8. */
  readonly lockConnections?: number;
}

export interface PostgresCoordinationDeps {
  /** The store's pool: announcements go through it. */
  readonly pool: pg.Pool;
  readonly context: PgErrorContext;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
}

const CHANGE_KINDS: ReadonlySet<string> = new Set<ChangeKind>(['ca', 'revocation', 'policy', 'rotation']);

/**
 * Coordination of replicas through PostgreSQL alone (no consensus of Sigil's own):
 * - leadership is the session advisory lock `leader:<schema>`, held on one dedicated connection. The lock lives
 *   exactly as long as that session: a replica killed with -9 closes its socket and PostgreSQL releases the lock at
 *   once, so a follower polling every `pollMs` takes over within about one poll (plus jitter). A frozen leader's
 *   session is ended by PostgreSQL after `hungLeaderTimeoutMs` of silence. A leader that loses its connection steps
 *   down at once, before it reconnects, so two replicas never both believe they lead for longer than one poll.
 * - `exclusive` is `pg_advisory_lock(<schema>:<name>)` on a connection of a small pool of its own, held for `fn`.
 * - changes are `NOTIFY sigil_<schema>` with {kind, from}; the same session LISTENs. After its session is re-made,
 *   a replica reports 'all', since notifications sent meanwhile are lost.
 */
export class PostgresCoordination implements Coordination {
  readonly #options: PostgresCoordinationOptions;
  readonly #deps: PostgresCoordinationDeps;
  readonly #local = new LocalLocks();
  readonly #listeners = new Set<(signal: ChangeSignal) => void>();
  readonly leadership = new LeadershipState();
  readonly #lockPool: pg.Pool;
  readonly #channel: string;
  #session: pg.Client | undefined;
  #timer: Timer | undefined;
  #stopped = true;
  #connectedOnce = false;
  #ticking: Promise<void> | undefined;

  constructor(options: PostgresCoordinationOptions, deps: PostgresCoordinationDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#channel = `sigil_${options.schema}`;
    this.#lockPool = new pg.Pool({
      connectionString: options.url,
      max: options.lockConnections ?? 8,
      connectionTimeoutMillis: 5000,
      application_name: 'sigil-control-plane-locks',
    });
    this.#lockPool.on('error', () => undefined);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#ticking;
    this.leadership.set(false);
    await this.#endSession();
    await this.#lockPool.end().catch(() => undefined);
  }

  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#local.run(name, async () => {
      let client: pg.PoolClient;
      try {
        client = await this.#lockPool.connect();
      } catch (err) {
        throw translatePgError(err, this.#deps.context, `taking the cluster lock ${name}`);
      }
      const key = [SIGIL_LOCK_CLASS, `${this.#options.schema}:${name}`];
      let broken: Error | undefined;
      try {
        await client.query('SELECT pg_advisory_lock($1, hashtext($2))', key);
      } catch (err) {
        client.release(err as Error);
        throw translatePgError(err, this.#deps.context, `taking the cluster lock ${name}`);
      }
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', key).catch((err: Error) => {
          // The session is gone, and with it the lock.
          broken = err;
        });
        client.release(broken);
      }
    });
  }

  async announce(kind: ChangeKind): Promise<void> {
    try {
      await this.#deps.pool.query('SELECT pg_notify($1, $2)', [
        this.#channel,
        JSON.stringify({ kind, from: this.#options.replicaId }),
      ]);
    } catch (err) {
      // Best effort: the others reload periodically anyway.
      this.#deps.logger.warn(
        { err: { message: (err as Error).message }, kind },
        'could not announce a change to the other replicas',
      );
    }
  }

  onChange(listener: (signal: ChangeSignal) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(signal: ChangeSignal): void {
    for (const listener of this.#listeners) {
      try {
        listener(signal);
      } catch (err) {
        this.#deps.logger.error({ err }, 'a change listener failed');
      }
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    const poll = this.#options.pollMs ?? 1000;
    // ±20 % so followers do not ask in step.
    const delay = Math.round(poll * (0.8 + 0.4 * this.#deps.random()));
    this.#timer = this.#deps.clock.setTimer(delay, () => {
      this.#ticking = this.#tick().finally(() => {
        this.#ticking = undefined;
      });
    });
  }

  /** One poll: (re)connect the session, then take the lock or prove the connection still works. Never throws. */
  async #tick(): Promise<void> {
    try {
      const session = this.#session ?? (await this.#connect());
      if (this.leadership.isLeader) {
        await session.query('SELECT 1');
      } else {
        const result = await session.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
          SIGIL_LOCK_CLASS,
          `leader:${this.#options.schema}`,
        ]);
        if (result.rows[0]?.ok === true && !this.#stopped) {
          this.#deps.logger.info({ replica: this.#options.replicaId }, 'this replica now runs the singleton duties');
          this.leadership.set(true);
        }
      }
    } catch (err) {
      this.#lost(err);
    }
    this.#arm();
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#options.url,
      application_name: 'sigil-control-plane-leader',
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
      connectionTimeoutMillis: 5000,
    });
    client.on('error', (err) => this.#lost(err));
    client.on('notification', (message) => this.#notified(message.payload));
    await client.connect();
    const hung = Math.max(1000, Math.trunc(this.#options.hungLeaderTimeoutMs ?? 10_000));
    await client.query(`LISTEN ${this.#channel}`);
    // PostgreSQL 14+; older servers keep only the TCP keepalive.
    await client.query(`SET idle_session_timeout = ${hung}`).catch(() => undefined);
    this.#session = client;
    if (this.#connectedOnce) this.#emit('all');
    this.#connectedOnce = true;
    return client;
  }

  #notified(payload: string | undefined): void {
    try {
      const { kind, from } = JSON.parse(payload ?? '') as { kind?: unknown; from?: unknown };
      if (from === this.#options.replicaId || typeof kind !== 'string' || !CHANGE_KINDS.has(kind)) return;
      this.#emit(kind as ChangeKind);
    } catch {
      // Not ours: someone else NOTIFYing on the channel.
    }
  }

  /** The session broke: whatever it held is gone with it, so this replica stops leading before anything else. */
  #lost(err: unknown): void {
    const session = this.#session;
    this.#session = undefined;
    if (this.leadership.isLeader) {
      this.#deps.logger.warn(
        { [LogField.reason]: (err as Error)?.message, replica: this.#options.replicaId },
        'lost the leader session to PostgreSQL; singleton duties stop here until the lock is won again',
      );
    }
    this.leadership.set(false);
    session?.end().catch(() => undefined);
  }

  async #endSession(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    await session?.end().catch(() => undefined);
  }
}
