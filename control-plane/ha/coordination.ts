/** What one replica tells the others it changed; each names what they reload from the store. */
export type ChangeKind = 'ca' | 'revocation' | 'policy' | 'rotation';

/** A change another replica announced, or 'all' when some may have been missed (a reconnect, the periodic backstop). */
export type ChangeSignal = ChangeKind | 'all';

/**
 * How control-plane replicas that share one store work together (DESIGN.md section 7). The store is the only copy
 * of every state; this port adds the three things a shared database alone does not give:
 * - `exclusive`: a cluster-wide critical section, so steps that read, decide and write (a CA rotation step, a policy
 *   version, a CRL number and its event) run one at a time across replicas, in one order;
 * - `announce` / `onChange`: telling the other replicas what to reload (best effort; a periodic full reload backs it);
 * - `leadership`: exactly one replica at a time runs the singleton duties (CRL re-signing, the CA rotation schedule,
 *   the expiry monitor, …), and another takes over within a bounded time when it dies.
 * A single control plane on SQLite uses LocalCoordination: always the leader, locks in process, nobody to tell.
 */
export interface Coordination {
  /** Runs `fn` while no other replica runs an `exclusive` of the same name. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  announce(kind: ChangeKind): Promise<void>;
  /** Returns the unsubscribe function. */
  onChange(listener: (signal: ChangeSignal) => void): () => void;
  readonly leadership: Leadership;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Leadership {
  readonly isLeader: boolean;
  /** Called with true when this replica becomes the leader, false when it stops being it; returns unsubscribe. */
  onChange(listener: (leader: boolean) => void): () => void;
}

/** In-process queues per name: what `exclusive` means when only one process uses the store. */
export class LocalLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const tail = this.#tails.get(name) ?? Promise.resolve();
    const run = tail.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.#tails.set(name, settled);
    void settled.then(() => {
      if (this.#tails.get(name) === settled) this.#tails.delete(name);
    });
    return run;
  }
}

/** Leadership as a value that changes: the coordinations set it, duties listen. */
export class LeadershipState implements Leadership {
  readonly #listeners = new Set<(leader: boolean) => void>();
  #leader = false;

  get isLeader(): boolean {
    return this.#leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    for (const listener of this.#listeners) listener(leader);
  }
}

/** One control plane alone: it is the leader from start to stop. */
export class LocalCoordination implements Coordination {
  readonly #locks = new LocalLocks();
  readonly leadership = new LeadershipState();

  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(name, fn);
  }

  async announce(): Promise<void> {}

  onChange(): () => void {
    return () => undefined;
  }

  async start(): Promise<void> {
    this.leadership.set(true);
  }

  async stop(): Promise<void> {
    this.leadership.set(false);
  }
}
