import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { verifyEnvelope } from '../../common/events/verify-envelope.ts';
import { SignerChainCache } from '../../common/events/signer-chain-cache.ts';
import { RateLimiter } from '../proxy/rate-limiter.ts';
import type { FromWorker, ToWorker, VerifierWorkerData } from './event-verifier-protocol.ts';

/**
 * The costly half of event verification (envelope, signer chain, signature), off the sidecar's event loop. It holds
 * no sequence state: results go back in the order the jobs came, and the sidecar applies them in that order.
 */
const config = workerData as VerifierWorkerData;
const port = parentPort;
if (port === null) throw new Error('event-verifier-worker.ts runs as a worker thread only');

// Connections come first: on Linux a nice value is per thread (setpriority on the calling thread's id, which pid 0
// means there), so this lowers the verifier alone and a flood's verification yields the CPU to the event loop.
// Elsewhere it would renice the whole sidecar, so it is left alone.
if (process.platform === 'linux') {
  try {
    setPriority(0, 10);
  } catch {
    // Not permitted (some containers): verification then competes at the sidecar's priority.
  }
}

let roots: readonly Uint8Array[] = [];
let jobNow = 0;
const cache = new SignerChainCache();
// The budget runs on the sidecar's clock as carried by each job, so a test's clock rules it as before.
const budget = new RateLimiter({
  clock: {
    now: () => jobNow,
    setTimer: () => {
      throw new Error('the verifier budget sets no timers');
    },
  },
  limit: config.newChainsPerSubjectPerSecond,
  windowMs: 1000,
});

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'roots') {
    roots = msg.roots;
    return;
  }
  jobNow = msg.now;
  const result = verifyEnvelope(msg.data, {
    trustDomain: config.trustDomain,
    roots,
    now: msg.now,
    cache,
    allowUncachedValidation: () => budget.take(msg.subject).allowed,
  });
  port.postMessage({ type: 'result', id: msg.id, result } satisfies FromWorker);
});
port.postMessage({ type: 'ready' } satisfies FromWorker);
