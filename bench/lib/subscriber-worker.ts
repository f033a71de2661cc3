// Child-process entry: `subscribers` lightweight sidecars — each an EventChannel (its own NATS connection, its own
// verification state) feeding its own TrustState, without proxies — recording publish-to-applied latency of every
// verified event, and applying revocation events to its own RevocationState (revoke-to-enforced: the moment
// the state refuses the revoked identity). Driven over IPC by subscriber-pool.ts; exits when its parent goes away.
import { systemClock } from '../../common/clock.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { silentLogger } from '../../common/logger.ts';
import { EventChannel, GrpcIdentityApi, RevocationState, TrustState, type EventMeta } from '../../sidecar/index.ts';
import type { FromWorker, ToWorker, WorkerStart } from './subscriber-protocol.ts';

const channels: EventChannel[] = [];
let samples = new Map<string, number[]>();
let dropped = new Map<string, number>();
/** Subscribers that applied each event so far, by `kind:sequence`; removed once all have. */
const appliedBy = new Map<string, number>();

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Never stale within a run: the staleness rule is not what is measured. */
const REVOCATION_OPTIONS = { maxStalenessMs: 3_600_000, failOpen: false };
/** Any serial: an identity revocation refuses every certificate of the identity. */
const ANY_SERIAL = '1';

/** What an applied bundle event is filed under: split by whether the roots actually changed. */
function bundleLabel(changed: boolean): string {
  return `bundle.${changed ? 'changed' : 'unchanged'}`;
}

/**
 * Applies a revocation delta and asks the state what a handshake would: true once it refuses the revoked identity
 * (or serial). False when the delta did not apply (a CRL-number gap, which a sidecar answers with a full fetch).
 */
function enforce(state: RevocationState, event: Extract<SigilEvent, { type: 'revocation.updated' }>): boolean {
  if (state.applyDelta(event) !== 'applied') return false;
  const spiffeId = event.revokedSpiffeIds[0];
  const serial = event.revokedSerials[0];
  if (spiffeId === undefined && serial === undefined) return true;
  return !state.authorize(serial ?? ANY_SERIAL, spiffeId ?? 'spiffe://bench.invalid/none').allowed;
}

function drop(reason: string): void {
  dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
}

function record(key: string, ms: number): void {
  const list = samples.get(key);
  if (list) list.push(ms);
  else samples.set(key, [ms]);
}

function applied(meta: EventMeta, total: number): void {
  const key = `${meta.kind}:${meta.sequence}`;
  const count = (appliedBy.get(key) ?? 0) + 1;
  if (count < total) return void appliedBy.set(key, count);
  appliedBy.delete(key);
  send({ type: 'complete', kind: meta.kind, sequence: meta.sequence });
}

async function start(options: WorkerStart): Promise<void> {
  const api = new GrpcIdentityApi({ address: options.grpcAddress, bundlePem: () => options.bundlePem, trustDomain: options.trustDomain });
  const initial = await api.fetchTrust();
  const logger = silentLogger();
  let connected = 0;
  const allConnected = Promise.withResolvers<void>();
  for (let i = 0; i < options.subscribers; i++) {
    const trust = new TrustState({ trustDomain: options.trustDomain }, { clock: systemClock, logger });
    trust.offer(initial.roots, initial.bundleSequence, 'grpc');
    const revocation = new RevocationState(REVOCATION_OPTIONS, { clock: systemClock, logger });
    revocation.replace(initial.revocation);
    const channel = new EventChannel({ servers: options.servers, trustDomain: options.trustDomain, name: `${options.name}-${i}`, reconnectWaitMs: 500 }, {
      roots: () => trust.bundle?.roots ?? [],
      onEvent: (event, meta) => {
        // Same host, same clock as the signer: issuedAt is taken just before signing, so this is publish-to-applied.
        if (event.type === 'bundle.updated') {
          const changed = trust.offer(event.roots, event.bundleSequence, 'nats');
          record(bundleLabel(changed), performance.timeOrigin + performance.now() - meta.issuedAt);
        } else if (event.type === 'revocation.updated') {
          // A delta that did not take is counted, not sampled: the samples then fall short of those expected.
          if (enforce(revocation, event)) record('revocation.enforced', performance.timeOrigin + performance.now() - meta.issuedAt);
          else drop('revocation/not-enforced');
        }
        applied(meta, options.subscribers);
      },
      onStatus: (up, first) => {
        if (up && first && ++connected === options.subscribers) allConnected.resolve();
      },
      onReceived: (kind, result) => {
        if (result !== 'applied') drop(`${kind}/${result}`);
      },
      clock: systemClock,
      logger,
    });
    channels.push(channel);
    channel.start();
  }
  await allConnected.promise;
  send({ type: 'ready', bundleSequence: initial.bundleSequence });
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled(channels.map((c) => c.close()));
  process.exit(code);
}

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'start':
      start(message).catch((err: unknown) => {
        send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
        void stop(1);
      });
      return;
    case 'reset':
      samples = new Map();
      dropped = new Map();
      return;
    case 'report':
      send({ type: 'report', samples: Object.fromEntries(samples), dropped: Object.fromEntries(dropped) });
      return;
    case 'stop':
      void stop(0);
      return;
  }
});
process.once('disconnect', () => void stop(1));
