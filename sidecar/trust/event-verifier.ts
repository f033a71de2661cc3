import { Worker } from 'node:worker_threads';
import type { Rejection, VerifiedEnvelope } from '../../common/events/verify-envelope.ts';
import type { FromWorker, ToWorker, VerifierWorkerData } from './event-verifier-protocol.ts';

export interface EventVerifierOptions {
  readonly trustDomain: string;
  /** Messages waiting for or in verification; past this, new ones are dropped unread. Default 256. */
  readonly maxQueued?: number;
  /** Their bytes; one message is always admitted to an empty queue (an event may be up to 1 MiB). Default 4 MiB. */
  readonly maxQueuedBytes?: number;
  /** New signer chains validated per subject and second. Default 4. */
  readonly newChainsPerSubjectPerSecond?: number;
}

/** The verdict on one submitted message, or why it was never verified. */
export type VerifierResult = VerifiedEnvelope | Rejection | { readonly ok: false; readonly reason: 'verifier-failed' };

type Done = (result: VerifierResult) => void;

/**
 * Verifies event envelopes on a worker thread, so a flood of forged events (each a signature check, some a chain
 * validation) never stalls new connections on the sidecar's event loop. The queue is bounded by count and bytes:
 * submit() refuses when full and the caller counts the drop (NATS is at-most-once anyway; the sidecar converges over
 * gRPC). Results arrive in submission order. If the worker dies, what it held is reported 'verifier-failed' and the
 * next submit starts a new one.
 */
export class EventVerifier {
  readonly #data: VerifierWorkerData;
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  readonly #pending = new Map<number, { readonly bytes: number; readonly done: Done }>();
  #queuedBytes = 0;
  #nextId = 1;
  #worker: Worker | undefined;
  #roots: readonly Uint8Array[] | undefined;
  #closed = false;
  #ready: Promise<void> = Promise.resolve();

  constructor(options: EventVerifierOptions) {
    this.#data = {
      trustDomain: options.trustDomain,
      newChainsPerSubjectPerSecond: options.newChainsPerSubjectPerSecond ?? 4,
    };
    this.#maxQueued = Math.max(1, options.maxQueued ?? 256);
    this.#maxQueuedBytes = Math.max(1, options.maxQueuedBytes ?? 4 * 1024 * 1024);
  }

  /**
   * Starts the worker ahead of the first event (loading its modules takes most of a second); resolves once it is
   * ready, or has failed (then submissions are answered 'verifier-failed' and the next one tries again).
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#ensureWorker();
    return this.#ready;
  }

  /** Messages submitted and not yet answered. */
  get queued(): number {
    return this.#pending.size;
  }

  /**
   * Queues `data` for verification against `roots` as of `now`; `done` runs later, in submission order. Returns false
   * (and never calls `done`) when the queue is full or the verifier is closed.
   */
  submit(subject: string, data: Uint8Array, roots: readonly Uint8Array[], now: number, done: Done): boolean {
    if (this.#closed) return false;
    const full =
      this.#pending.size >= this.#maxQueued ||
      (this.#pending.size > 0 && this.#queuedBytes + data.length > this.#maxQueuedBytes);
    if (full) return false;
    const worker = this.#ensureWorker();
    if (roots !== this.#roots) {
      this.#roots = roots;
      worker.postMessage({ type: 'roots', roots: roots.map((r) => new Uint8Array(r)) } satisfies ToWorker);
    }
    const id = this.#nextId++;
    this.#pending.set(id, { bytes: data.length, done });
    this.#queuedBytes += data.length;
    // A message from NATS is a view into the whole socket read: copy out its bytes alone and hand them over, or
    // structured cloning would copy the entire read buffer for every message.
    const own = new Uint8Array(data);
    worker.postMessage({ type: 'verify', id, subject, data: own, now } satisfies ToWorker, [own.buffer]);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#pending.clear();
    this.#queuedBytes = 0;
    if (worker) await worker.terminate().catch(() => undefined);
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    // No inherited execArgv: loaders a host process was started with (a test runner's coverage hooks) would make
    // the worker slow to start and are of no use to it.
    // The compiled build (dist/) holds the worker as .js: tsc rewrites import specifiers, not URLs.
    const script = import.meta.url.endsWith('.ts') ? './event-verifier-worker.ts' : './event-verifier-worker.js';
    const worker = new Worker(new URL(script, import.meta.url), {
      workerData: this.#data,
      execArgv: [],
    });
    // The sidecar's sockets and timers keep the process alive, not the verifier.
    worker.unref();
    this.#ready = new Promise((resolve) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') resolve();
        else this.#answer(msg.id, msg.result);
      });
      const failed = () => {
        resolve();
        this.#fail(worker);
      };
      worker.on('error', failed);
      worker.on('exit', failed);
    });
    this.#worker = worker;
    this.#roots = undefined;
    return worker;
  }

  #answer(id: number, result: VerifierResult): void {
    const job = this.#pending.get(id);
    if (job === undefined) return;
    this.#pending.delete(id);
    this.#queuedBytes -= job.bytes;
    job.done(result);
  }

  #fail(worker: Worker): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    for (const id of [...this.#pending.keys()]) this.#answer(id, { ok: false, reason: 'verifier-failed' });
  }
}
