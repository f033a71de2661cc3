import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import type { EventKind } from '../../common/events/subjects.ts';
import type { Logger } from '../../common/logger.ts';
import { PostgresCoordination } from '../store/postgres-coordination.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import type { Store } from '../store/store.ts';
import { type CaReloadDeps, reloadCaFromDisk } from './ca-reload.ts';
import { CaStateSync } from './ca-state-sync.ts';
import { type ChangeKind, type Coordination, LocalCoordination } from './coordination.ts';
import { ReplicaSync } from './replica-sync.ts';

export interface ReplicationOptions {
  readonly dataDir: string;
  /** Never logged. */
  readonly passphrase: string;
  readonly reloadIntervalMs: number;
  readonly leaderPollMs: number;
  readonly hungLeaderTimeoutMs: number;
}

export interface ReplicationDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly onReload?: (kind: ChangeKind, ok: boolean) => void;
}

/** Which store change an event of each kind reports. */
/** Alerts change nothing another replica holds in memory: it has no reload for them. */
const CHANGE_OF_EVENT: Readonly<Record<EventKind, ChangeKind | undefined>> = {
  bundle: 'ca',
  revocation: 'revocation',
  policy: 'policy',
  rotate: 'rotation',
  alert: undefined,
  audit: undefined,
};

/**
 * What running as one of several replicas adds to a control plane (DESIGN.md section 7), built from the store:
 * on PostgreSQL, the CA state shared through the store, PostgreSQL coordination and change propagation; on SQLite,
 * a single control plane (LocalCoordination, no sharing). The composition root asks it for the hooks services take.
 */
export class Replication {
  readonly shared: boolean;
  readonly sync: ReplicaSync;
  #coordination: Coordination | undefined;
  readonly #options: ReplicationOptions;
  readonly replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly #caSync: CaStateSync | undefined;
  #caReload: Omit<CaReloadDeps, 'logger'> | undefined;
  readonly #deps: ReplicationDeps;

  constructor(options: ReplicationOptions, deps: ReplicationDeps) {
    this.#deps = deps;
    this.#options = options;
    this.shared = deps.store instanceof PostgresStore;
    this.sync = new ReplicaSync({ intervalMs: options.reloadIntervalMs }, deps);
    this.#caSync = this.shared ? new CaStateSync(options, deps) : undefined;
  }

  /** Exists once join() ran. */
  get coordination(): Coordination {
    if (!this.#coordination) throw new Error('Replication.join() must run before the coordination is used');
    return this.#coordination;
  }

  /**
   * Before the CA is loaded (the store is open): joins the cluster, and makes the data dir a copy of the shared CA
   * (or seeds the store from it, on the first replica).
   */
  async join(): Promise<void> {
    const { store } = this.#deps;
    const options = this.#options;
    this.#coordination =
      store instanceof PostgresStore
        ? new PostgresCoordination(
            {
              url: store.url,
              schema: store.schema,
              replicaId: this.replicaId,
              pollMs: options.leaderPollMs,
              hungLeaderTimeoutMs: options.hungLeaderTimeoutMs,
            },
            { ...this.#deps, pool: store.database.pool, context: store.database.context },
          )
        : new LocalCoordination();
    await this.coordination.start();
    const caSync = this.#caSync;
    if (caSync) {
      const how = await this.coordination.exclusive('ca', () => caSync.startup());
      this.#deps.logger.info({ replica: this.replicaId, ca: how }, 'joined the control-plane replicas');
    }
  }

  /** Once the services exist: what a change of each kind means here, and who tells us. */
  wire(
    reload: Omit<CaReloadDeps, 'logger'>,
    reloaders: Readonly<Record<Exclude<ChangeKind, 'ca'>, () => Promise<void>>>,
  ): void {
    this.#caReload = reload;
    if (!this.shared) return;
    this.sync.register('ca', () => this.coordination.exclusive('ca', () => this.#pullCa()));
    for (const [kind, fn] of Object.entries(reloaders)) this.sync.register(kind as ChangeKind, fn);
    this.coordination.onChange((signal) => void this.sync.signal(signal));
    this.sync.start();
  }

  /** An event another replica sent over NATS: reload what it changed. */
  onOthersEvent = (kind: EventKind): void => {
    const change = CHANGE_OF_EVENT[kind];
    if (this.shared && change) void this.sync.signal(change);
  };

  /** Hook for a service's cluster lock: with one control plane, an in-process queue. */
  exclusive(name: string): <T>(fn: () => Promise<T>) => Promise<T> {
    return (fn) => this.coordination.exclusive(name, fn);
  }

  announce(kind: ChangeKind): () => Promise<void> {
    return () => this.coordination.announce(kind);
  }

  /**
   * Wraps a step that changes the CA's files: under the cluster lock, from the latest shared state, and shared
   * again afterwards (whatever part of it was committed, even when it then failed).
   */
  aroundCaStep = <T>(step: () => Promise<T>): Promise<T> => {
    const caSync = this.#caSync;
    if (!caSync) return step();
    return this.coordination.exclusive('ca', async () => {
      await this.#pullCa();
      try {
        return await step();
      } finally {
        if (await caSync.pushIfChanged()) await this.coordination.announce('ca');
      }
    });
  };

  async leave(): Promise<void> {
    await this.sync.stop();
    await this.#coordination?.stop();
  }

  async #pullCa(): Promise<void> {
    const caSync = this.#caSync;
    const reload = this.#caReload;
    if (!caSync || !(await caSync.pull()) || !reload) return;
    await reloadCaFromDisk({ ...reload, logger: this.#deps.logger });
  }
}
