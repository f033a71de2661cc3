// Child-process entry: `subscribers` lightweight sidecars — each an EventChannel (its own NATS connection, its own
// verification state) feeding its own TrustState, without proxies — recording publish-to-applied latency of every
// verified event. Driven over IPC by subscriber-pool.ts; exits when its parent goes away.
import { systemClock } from '../../common/clock.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { silentLogger } from '../../common/logger.ts';
import { EventChannel, GrpcIdentityApi, TrustState, type EventMeta } from '../../sidecar/index.ts';
import type { FromWorker, ToWorker, WorkerStart } from './subscriber-protocol.ts';

const channels: EventChannel[] = [];
let samples = new Map<string, number[]>();
let dropped = new Map<string, number>();
/** Subscribers that applied each event so far, by `kind:sequence`; removed once all have. */
const appliedBy = new Map<string, number>();

function send(message: FromWorker): void {
  process.send?.(message);
}

/** What an applied event is filed under: bundle events split by whether the roots actually changed. */
function label(event: SigilEvent, changed: boolean): string {
  return `${event.type === 'bundle.updated' ? 'bundle' : 'other'}.${changed ? 'changed' : 'unchanged'}`;
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
    const channel = new EventChannel({ servers: options.servers, trustDomain: options.trustDomain, name: `${options.name}-${i}`, reconnectWaitMs: 500 }, {
      roots: () => trust.bundle?.roots ?? [],
      onEvent: (event, meta) => {
        const changed = event.type === 'bundle.updated' && trust.offer(event.roots, event.bundleSequence, 'nats');
        // Same host, same clock as the signer: issuedAt is taken just before signing, so this is publish-to-applied.
        record(label(event, changed), performance.timeOrigin + performance.now() - meta.issuedAt);
        applied(meta, options.subscribers);
      },
      onStatus: (up, first) => {
        if (up && first && ++connected === options.subscribers) allConnected.resolve();
      },
      onReceived: (kind, result) => {
        if (result !== 'applied') dropped.set(`${kind}/${result}`, (dropped.get(`${kind}/${result}`) ?? 0) + 1);
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
