// Child-process entry: `subscribers` lightweight sidecars — each an EventChannel (its own NATS connection, its own
// verification state) feeding its own TrustState, without proxies — recording publish-to-applied latency of every
// verified event, and applying revocation events to its own RevocationState (revoke-to-enforced: the moment
// the state refuses the revoked identity). Driven over IPC by subscriber-pool.ts; exits when its parent goes away.
import { systemClock } from '../../common/clock.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { silentLogger } from '../../common/logger.ts';
import {
  EventChannel,
  GrpcIdentityApi,
  RevocationState,
  RotationOrders,
  SvidManager,
  TrustState,
  type EventMeta,
} from '../../sidecar/index.ts';
import type { FromWorker, ToWorker, WorkerStart } from './subscriber-protocol.ts';

const channels: EventChannel[] = [];
const svids: SvidManager[] = [];
/** Attestations in flight at once per worker: enough to keep the control plane busy, not a flood. */
const ATTEST_CONCURRENCY = 8;
let rotatedCount = 0;
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
  if (state.applyDelta(event, Date.now()) !== 'applied') return false;
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

/**
 * A sidecar's identity half: attests with its token, then renews with a new key when a rotation order targets it.
 * Records how long each renewal took and when it finished; reports 'rotated' once every subscriber here rotated.
 */
async function identityFor(
  identity: { spiffeId: string; token: string },
  options: WorkerStart,
  api: GrpcIdentityApi,
): Promise<RotationOrders> {
  const logger = silentLogger();
  const svid = new SvidManager(
    { spiffeId: identity.spiffeId, trustDomain: options.trustDomain, joinToken: () => identity.token },
    {
      api,
      credentials: { update: () => undefined },
      clock: systemClock,
      random: Math.random,
      logger,
    },
  );
  await svid.start();
  if (svid.state !== 'ready') throw new Error(`${identity.spiffeId} could not attest (state ${svid.state})`);
  svids.push(svid);
  return new RotationOrders(identity.spiffeId, {
    renewNow: async (reason) => {
      const t0 = performance.now();
      const ok = await svid.renewNow(reason);
      if (ok) {
        record('rotation.renewMs', performance.now() - t0);
        record('rotation.doneAt', performance.timeOrigin + performance.now());
        if (++rotatedCount === options.subscribers) send({ type: 'complete', kind: 'rotated', sequence: 1 });
      } else {
        drop('rotation/renew-failed');
      }
      return ok;
    },
    clock: systemClock,
    random: Math.random,
    logger,
  });
}

async function identitiesFor(options: WorkerStart, api: GrpcIdentityApi): Promise<(RotationOrders | undefined)[]> {
  const identities = options.identities ?? [];
  const out: (RotationOrders | undefined)[] = new Array(options.subscribers).fill(undefined);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(ATTEST_CONCURRENCY, identities.length) }, async () => {
      while (next < identities.length) {
        const i = next++;
        out[i] = await identityFor(identities[i]!, options, api);
      }
    }),
  );
  return out;
}

async function start(options: WorkerStart): Promise<void> {
  const api = new GrpcIdentityApi({
    address: options.grpcAddress,
    bundlePem: () => options.bundlePem,
    trustDomain: options.trustDomain,
  });
  const initial = await api.fetchTrust(options.trustReader);
  const logger = silentLogger();
  const rotation = await identitiesFor(options, api);
  let connected = 0;
  const allConnected = Promise.withResolvers<void>();
  for (let i = 0; i < options.subscribers; i++) {
    const trust = new TrustState({ trustDomain: options.trustDomain }, { clock: systemClock, logger });
    trust.offer(initial.roots, initial.bundleSequence, 'grpc');
    const revocation = new RevocationState(REVOCATION_OPTIONS, { clock: systemClock, logger });
    revocation.replace(initial.revocation);
    const channel = new EventChannel(
      {
        servers: options.servers,
        trustDomain: options.trustDomain,
        name: `${options.name}-${i}`,
        reconnectWaitMs: 500,
      },
      {
        roots: () => trust.bundle?.roots ?? [],
        onEvent: (event, meta) => {
          // Rotation orders are followed up by renewals ('rotated' completions), not as applied events.
          if (event.type === 'rotate.ordered') return void rotation[i]?.offer(event);
          // Same host, same clock as the signer: issuedAt is taken just before signing, so this is publish-to-applied.
          if (event.type === 'bundle.updated') {
            const changed = trust.offer(event.roots, event.bundleSequence, 'nats');
            record(bundleLabel(changed), performance.timeOrigin + performance.now() - meta.issuedAt);
          } else if (event.type === 'revocation.updated') {
            // A delta that did not take is counted, not sampled: the samples then fall short of those expected.
            if (enforce(revocation, event))
              record('revocation.enforced', performance.timeOrigin + performance.now() - meta.issuedAt);
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
      },
    );
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
  for (const svid of svids) svid.stop();
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
