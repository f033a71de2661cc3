/**
 * A fixed set of PKCS#11 sessions shared by concurrent signers: a session runs one operation at a time, so each
 * caller borrows one and waits (FIFO) when all are busy. Sized to the token at open, never grown.
 */
export class SessionPool<S> {
  readonly size: number;
  readonly #free: S[];
  readonly #waiting: ((session: S) => void)[] = [];
  #draining = false;

  constructor(sessions: readonly S[]) {
    if (sessions.length === 0) throw new Error('a session pool needs at least one session');
    this.size = sessions.length;
    this.#free = [...sessions];
  }

  /** Runs `work` with a borrowed session and returns it afterwards, whether `work` succeeds or fails. */
  async use<T>(work: (session: S) => Promise<T>): Promise<T> {
    if (this.#draining) throw new Error('the session pool is closed');
    const session = this.#free.pop() ?? (await new Promise<S>((resolve) => this.#waiting.push(resolve)));
    try {
      return await work(session);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(session);
      else this.#free.push(session);
    }
  }

  /** Stops lending and resolves with every session once all borrowed ones are back. */
  async drain(): Promise<S[]> {
    this.#draining = true;
    while (this.#free.length < this.size) {
      await new Promise<S>((resolve) => this.#waiting.push(resolve)).then((s) => this.#free.push(s));
    }
    return [...this.#free];
  }
}
