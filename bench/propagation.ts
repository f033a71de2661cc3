// Event propagation, publish to applied, for many lightweight subscribers (the sidecar's subscribing library:
// EventChannel + TrustState + RevocationState, without proxies) spread over worker processes, bundle events and
// revocations (revoke-to-enforced), with the CPU the control plane,
// the subscribers and nats-server spend per event, all read from /proc in the same run.
// Last, a rotation wave: subscribers that hold SVIDs get `sigil rotate --all --within 60s` and renew with new keys
// at random moments in the window: control-plane CPU and issuance rate during the wave.
// Run: `npx node bench/propagation.ts [--subscribers 1000] [--events 50] [--workers 2] [--json out.json]
//       [--rotation-window-seconds 60 (0: no wave)] [--deadline-seconds 360]`.
// Writes bench/results/propagation.json unless --json says otherwise. Linux only (/proc).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { mintRoot } from '../control-plane/index.ts';
import { withDeadline } from './lib/child-processes.ts';
import { startControlPlaneProcess } from './lib/control-plane-process.ts';
import { measureEvents, type EventScenario, type ScenarioResult } from './lib/measure-events.ts';
import { summarize, type LatencySummary } from './lib/stats.ts';
import { startBenchNatsServer } from './lib/nats-server.ts';
import { processCpuMs } from './lib/process-cpu.ts';
import { SubscriberPool } from './lib/subscriber-pool.ts';
import { attestTrustReader } from './lib/trust-reader.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { measureRotationWave, type RotationWaveResult } from './lib/rotation-wave.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_PROPAGATION_JSON = join(ROOT, 'bench', 'results', 'propagation.json');
const TRUST_DOMAIN = 'bench.example';
const WARM_UP_ATTEMPTS = 3;
const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const FIRST_EVENT_TRIGGER =
  'the first event each new subscriber verifies (a re-publish): the signer chain is path-validated, then cached';
/** Time kept back from the deadline for the final event, the one-subscriber baseline and teardown. */
const RESERVE_MS = 20_000;
const BASELINE_EVENTS = 100;
const REVOKE_TRIGGER =
  'AdminApi.revoke({ spiffeId }) (what `sigil revoke --spiffe-id` does) of a new identity with no certificates, from the benchmark process over one admin mTLS channel: the control plane stores it, re-signs the CRL and publishes a signed revocation.updated; each subscriber applies the delta to its RevocationState and checks the identity is now refused';
const REPUBLISH_TRIGGER =
  'ControlPlane.addTrustAnchors() with the current bundle, in the control plane process, asked over IPC (the admin API has no RPC that publishes a bundle): a signed re-publish of the unchanged bundle';

export interface PropagationOptions {
  readonly subscribers?: number;
  /** Measured events per scenario. */
  readonly events?: number;
  /** Worker processes the subscribers are spread over. Default: the number of cores, at least 2. */
  readonly workers?: number;
  /** Wall-clock bound of the whole run, setup and teardown included. */
  readonly deadlineMs?: number;
  /** How long one event may take to reach every subscriber before it is counted incomplete. */
  readonly eventTimeoutMs?: number;
  /** The rotation wave's spread window; 0 skips the wave. Default 60 s. */
  readonly rotationWindowMs?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** The control plane's store; PostgreSQL in a schema of its own, dropped afterwards. Default SQLite. */
  readonly store?: 'sqlite' | 'postgres';
  readonly postgresUrl?: string;
}

export interface PropagationResult {
  readonly date: string;
  readonly store: 'sqlite' | 'postgres';
  readonly node: string;
  readonly cores: number;
  readonly subscribers: number;
  readonly workers: number;
  readonly scenarios: {
    /** The first event fresh subscribers verify: each validates the signer chain (as again after a bundle change). */
    readonly firstEvent: ScenarioResult;
    /** Bundle events to every subscriber: signed re-publishes of the unchanged bundle (verify, no change to apply). */
    readonly bundle: ScenarioResult;
    /** One bundle event that adds a root, measured alone: every subscriber builds and applies a new bundle. */
    readonly bundleChange: ScenarioResult;
    /** The same re-publishes to one subscriber alone in its process: the latency without CPU queueing. */
    readonly bundleOneSubscriber: ScenarioResult;
    /** Identity revocations to every subscriber: revoke-to-enforced (the state refuses the identity), CRL re-signed each time. */
    readonly revocation: ScenarioResult;
    /** The same revocations to one subscriber alone in its process: revoke-to-enforced without CPU queueing. */
    readonly revocationOneSubscriber: ScenarioResult;
  };
  /**
   * The Admin API revoke call as the benchmark saw it (call → reply), for the 1,000-subscriber revocations. The
   * latency above runs from the event's issuedAt, stamped after the store write and the CRL signing; the reply comes
   * once the signed event is handed to NATS, so this bounds what the control plane spends before issuedAt.
   */
  readonly revokeCallMs: LatencySummary;
  /** Absent when the wave was skipped. Attestation of the wave's subscribers is reported as setup. */
  readonly rotationWave?: RotationWaveResult & {
    readonly attest: { readonly wallMs: number; readonly perSecond: number };
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--${name} must be a positive integer, not ${value}`);
  return value;
}

/**
 * Runs the whole benchmark: a private nats-server, a control plane in a child process, the subscriber workers,
 * a warm-up, then each scenario. Stops starting new events when the time budget runs low, and rejects with
 * DEADLINE_EXCEEDED (after killing every child) if it overruns anyway.
 */
export async function runPropagation(options: PropagationOptions = {}): Promise<PropagationResult> {
  if (options.store !== 'postgres') return runOnce(options, undefined);
  const postgres = {
    url: options.postgresUrl ?? DEFAULT_POSTGRES_URL,
    schema: `sigil_bench_${process.pid}_${Date.now()}`,
  };
  try {
    return await runOnce(options, postgres);
  } finally {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${postgres.schema} CASCADE`);
    await client.end();
  }
}

async function runOnce(
  options: PropagationOptions,
  postgres: { readonly url: string; readonly schema: string } | undefined,
): Promise<PropagationResult> {
  const subscribers = positiveInteger('subscribers', options.subscribers ?? 1000);
  const events = positiveInteger('events', options.events ?? 50);
  const workers = Math.min(subscribers, positiveInteger('workers', options.workers ?? Math.max(2, cpus().length)));
  const rotationWindowMs = options.rotationWindowMs ?? 60_000;
  const deadlineMs = options.deadlineMs ?? (rotationWindowMs > 0 ? 360_000 : 120_000);
  const eventTimeoutMs = options.eventTimeoutMs ?? 10_000;
  const log = options.log ?? (() => undefined);
  // The wave needs its window, its subscribers' attestations and a margin, whatever the other scenarios took.
  const waveReserveMs = rotationWindowMs > 0 ? rotationWindowMs + 60_000 + subscribers * 25 : 0;
  const stopBy = performance.now() + deadlineMs - RESERVE_MS - waveReserveMs;

  return withDeadline('bench/propagation', deadlineMs, async (children) => {
    const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-propagation-'));
    const nats = await startBenchNatsServer((child) => children.track(child));
    const cp = await startControlPlaneProcess(
      { dir, trustDomain: TRUST_DOMAIN, natsServers: [nats.url], ...(postgres ? { postgres } : {}) },
      children,
    ).catch(async (err: unknown) => {
      await nats.stop();
      throw err;
    });
    const trustReader = await attestTrustReader({
      grpcAddress: cp.grpcAddress,
      bundlePem: cp.bundlePem,
      trustDomain: TRUST_DOMAIN,
      createJoinToken: (spiffeId) => cp.createJoinToken(spiffeId),
    });
    const pools: SubscriberPool[] = [];
    const measure = (
      pool: SubscriberPool,
      count: number,
      scenario: EventScenario,
      n: number,
      until: number,
      timeoutMs = eventTimeoutMs,
    ) =>
      measureEvents(
        {
          pool,
          subscribers: count,
          controlPlaneCpuMs: () => cp.cpuMs(),
          natsServerCpuMs: () => processCpuMs(nats.pid),
          eventTimeoutMs: timeoutMs,
          stopBy: until,
        },
        scenario,
        n,
      );
    const republish = async (): Promise<void> => void (await cp.addTrustAnchors(cp.bundlePem));
    let victims = 0;
    let revokeCallMs: number[] = [];
    const revoke = async (): Promise<void> => {
      const start = performance.now();
      await cp.revokeIdentity(`spiffe://${TRUST_DOMAIN}/ns/bench/sa/victim-${++victims}`);
      revokeCallMs.push(performance.now() - start);
    };
    const revocationScenario: EventScenario = { kind: 'revocation', trigger: REVOKE_TRIGGER, publish: revoke };
    /**
     * Revocations in a paced window. One unmeasured revocation first: subscribers have seen no revocation event
     * yet, so the first one sets the per-kind sequence the paced loop counts from (and opens the admin channel).
     */
    const measureRevocations = async (
      pool: SubscriberPool,
      count: number,
      n: number,
      until: number,
    ): Promise<ScenarioResult> => {
      const warmUp = await measure(
        pool,
        count,
        revocationScenario,
        1,
        Number.POSITIVE_INFINITY,
        Math.max(eventTimeoutMs, 30_000),
      );
      if (warmUp.incompleteEvents > 0)
        throw new SigilError(
          ErrorCode.UNAVAILABLE,
          'the warm-up revocation did not reach every subscriber: is nats-server overloaded?',
        );
      revokeCallMs = [];
      return measure(pool, count, revocationScenario, n, until);
    };
    /**
     * Starts subscribers and publishes until every one of them has applied an event: that proves every
     * subscription is live (NATS registers one asynchronously after connect). The event that does it is the
     * first each subscriber verifies, so it also measures validating the signer chain, as after any bundle change.
     */
    const startPool = async (
      count: number,
      processes: number,
    ): Promise<{ pool: SubscriberPool; firstEvent: ScenarioResult }> => {
      const pool = await SubscriberPool.start(
        {
          subscribers: count,
          workers: processes,
          servers: [nats.url],
          trustDomain: TRUST_DOMAIN,
          grpcAddress: cp.grpcAddress,
          bundlePem: cp.bundlePem,
          trustReader,
        },
        children,
      );
      pools.push(pool);
      for (let attempt = 1; attempt <= WARM_UP_ATTEMPTS; attempt++) {
        const firstEvent = await measure(
          pool,
          count,
          { kind: 'bundle', trigger: FIRST_EVENT_TRIGGER, publish: republish },
          1,
          Number.POSITIVE_INFINITY,
          Math.max(eventTimeoutMs, 30_000),
        );
        if (firstEvent.incompleteEvents === 0)
          return {
            pool,
            firstEvent:
              attempt === 1 ? firstEvent : { ...firstEvent, trigger: `${FIRST_EVENT_TRIGGER} (attempt ${attempt})` },
          };
      }
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `after ${WARM_UP_ATTEMPTS} warm-up events some subscribers had still not applied one: is nats-server overloaded?`,
      );
    };
    /** Subscribers with SVIDs (each attests with its own token), then the rotation order to all of them. */
    const wave = async (count: number) => {
      const identities = [];
      for (let i = 0; i < count; i++) {
        const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/bench/sa/rotating-${i}`;
        identities.push({ spiffeId, token: await cp.createJoinToken(spiffeId) });
      }
      const attestStart = performance.now();
      const pool = await SubscriberPool.start(
        {
          subscribers: count,
          workers,
          servers: [nats.url],
          trustDomain: TRUST_DOMAIN,
          grpcAddress: cp.grpcAddress,
          bundlePem: cp.bundlePem,
          trustReader,
          identities,
        },
        children,
      );
      pools.push(pool);
      const attestMs = performance.now() - attestStart;
      log(
        `rotation wave: ${count} subscribers attested in ${Math.round(attestMs)} ms; ordering rotate --all --within ${rotationWindowMs / 1000}s`,
      );
      const result = await measureRotationWave(cp, pool, count, rotationWindowMs);
      log(`rotation wave: ${result.rotated} renewed in ${result.wallMs} ms`);
      await pool.stop();
      return {
        ...result,
        attest: { wallMs: Math.round(attestMs), perSecond: Math.round((count / attestMs) * 10_000) / 10 },
      };
    };
    try {
      log(`control plane pid ${cp.pid} on ${cp.grpcAddress}, nats-server pid ${nats.pid} on ${nats.url}`);
      // A new root is minted before measuring: that is the operator's work, not the control plane's.
      const newRoot = (
        await mintRoot({ trustDomain: TRUST_DOMAIN, keyType: 'ec-p256', now: Date.now() })
      ).cert.toString('pem');
      const { pool, firstEvent } = await startPool(subscribers, workers);
      log(
        `${subscribers} subscribers connected in ${workers} worker processes; first event applied by all in ${firstEvent.wallMs} ms`,
      );
      const bundle = await measure(
        pool,
        subscribers,
        { kind: 'bundle', trigger: REPUBLISH_TRIGGER, publish: republish },
        events,
        stopBy,
      );
      log(`bundle: ${bundle.events} events to ${subscribers} subscribers in ${bundle.wallMs} ms`);
      const bundleChange = await measure(
        pool,
        subscribers,
        {
          kind: 'bundle',
          trigger: 'ControlPlane.addTrustAnchors() with a new root, in the control plane process, asked over IPC',
          publish: async () => void (await cp.addTrustAnchors(newRoot)),
        },
        1,
        Number.POSITIVE_INFINITY,
        Math.max(eventTimeoutMs, 30_000),
      );
      log(`bundle change: 1 event to ${subscribers} subscribers in ${bundleChange.wallMs} ms`);
      const revocation = await measureRevocations(pool, subscribers, events, stopBy);
      const revokeCall = summarize(revokeCallMs);
      log(`revocation: ${revocation.events} revocations to ${subscribers} subscribers in ${revocation.wallMs} ms`);
      await pool.stop();

      const { pool: solo } = await startPool(1, 1);
      const bundleOneSubscriber = await measure(
        solo,
        1,
        { kind: 'bundle', trigger: REPUBLISH_TRIGGER, publish: republish },
        BASELINE_EVENTS,
        Number.POSITIVE_INFINITY,
      );
      log(`bundle, one subscriber: ${bundleOneSubscriber.events} events in ${bundleOneSubscriber.wallMs} ms`);
      const revocationOneSubscriber = await measureRevocations(solo, 1, BASELINE_EVENTS, Number.POSITIVE_INFINITY);
      log(
        `revocation, one subscriber: ${revocationOneSubscriber.events} revocations in ${revocationOneSubscriber.wallMs} ms`,
      );
      await solo.stop();
      const rotationWave = rotationWindowMs > 0 ? await wave(subscribers) : undefined;
      return {
        date: new Date().toISOString(),
        store: postgres ? 'postgres' : 'sqlite',
        node: process.version,
        cores: cpus().length,
        subscribers,
        workers,
        scenarios: { firstEvent, bundle, bundleChange, bundleOneSubscriber, revocation, revocationOneSubscriber },
        revokeCallMs: revokeCall,
        ...(rotationWave ? { rotationWave } : {}),
      };
    } finally {
      for (const pool of pools) await pool.stop();
      await cp.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export function propagationTable(result: PropagationResult): string {
  const {
    firstEvent: first,
    bundle: b,
    bundleChange: change,
    bundleOneSubscriber: solo,
    revocation,
    revocationOneSubscriber,
  } = result.scenarios;
  const latency = (s: LatencySummary) => `${s.p50} / ${s.p99} / ${s.max}`;
  const row = (what: string, r: ScenarioResult) =>
    `| ${what} | ${r.events} | ${latency(r.latencyMs)} | ${r.eventsPerSecond} | ${r.cpuMs.controlPlanePerEvent} | ${r.cpuMs.subscriberPerEventPerSubscriber} | ${r.cpuMs.natsServerPerEvent} | ${r.samples.received} / ${r.samples.expected} |`;
  return [
    `${result.subscribers} subscribers in ${result.workers} worker processes, ${result.cores} cores, Node ${result.node}; latency is publish → applied (ms), for revocations revoke → enforced; CPU is ms per event`,
    '',
    '| scenario | events | p50 / p99 / max ms | events/s (paced) | control plane CPU | subscriber CPU, per subscriber | nats-server CPU | samples received / expected |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row(`first event, signer chain not yet validated, ${result.subscribers} subscribers`, first),
    row(`re-publish, unchanged bundle, ${result.subscribers} subscribers`, b),
    row(`new root added, ${result.subscribers} subscribers`, change),
    row('re-publish, unchanged bundle, 1 subscriber alone (baseline, same run)', solo),
    row(`revoke identity → enforced (CRL re-signed), ${result.subscribers} subscribers`, revocation),
    row('revoke identity → enforced, 1 subscriber alone (baseline, same run)', revocationOneSubscriber),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      subscribers: { type: 'string', default: '1000' },
      events: { type: 'string', default: '50' },
      workers: { type: 'string' },
      json: { type: 'string', default: DEFAULT_PROPAGATION_JSON },
      'deadline-seconds': { type: 'string' },
      'rotation-window-seconds': { type: 'string', default: '60' },
      stores: { type: 'string', default: 'sqlite,postgres' },
      'postgres-url': { type: 'string', default: DEFAULT_POSTGRES_URL },
    },
  });
  const stores = values.stores.split(',').map((s) => s.trim());
  for (const s of stores)
    if (s !== 'sqlite' && s !== 'postgres')
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--stores: ${s} is neither sqlite nor postgres`);
  const results: Partial<Record<'sqlite' | 'postgres', PropagationResult>> = {};
  for (const store of stores as ('sqlite' | 'postgres')[]) {
    results[store] = await runPropagation({
      subscribers: Number(values.subscribers),
      events: Number(values.events),
      ...(values.workers === undefined ? {} : { workers: Number(values.workers) }),
      ...(values['deadline-seconds'] === undefined ? {} : { deadlineMs: Number(values['deadline-seconds']) * 1000 }),
      rotationWindowMs: Number(values['rotation-window-seconds']) * 1000,
      log: (line) => process.stderr.write(`${line}\n`),
      store,
      postgresUrl: values['postgres-url'],
    });
  }
  const result = results[stores[0] as 'sqlite' | 'postgres']!;
  process.stdout.write(`${stores[0]} store:\n`);
  const { bundle, bundleChange, revocation } = result.scenarios;
  const incomplete = bundle.incompleteEvents + bundleChange.incompleteEvents + revocation.incompleteEvents;
  process.stdout.write(
    `${propagationTable(result)}\n\nevents are published one at a time (the next once every subscriber applied the previous); triggers: ${bundle.trigger}; ${bundleChange.trigger}; ${revocation.trigger}\n`,
  );
  for (const [name, r] of [
    ['bundle', bundle],
    ['revocation', revocation],
  ] as const) {
    if (r.events < r.requestedEvents)
      process.stdout.write(`${name}: the time budget allowed ${r.events} of ${r.requestedEvents} requested events\n`);
  }
  const call = result.revokeCallMs;
  process.stdout.write(
    `revocation latency runs from the event's issuedAt (after the store write and CRL signing); the Admin API revoke call itself took p50 ${call.p50} / p99 ${call.p99} / max ${call.max} ms (call → reply, reply once the event is handed to NATS)\n`,
  );
  if (incomplete > 0)
    process.stdout.write(
      `${incomplete} events did not reach every subscriber within the per-event timeout; dropped: ${JSON.stringify({ ...bundle.dropped, ...revocation.dropped })}\n`,
    );
  if (result.rotationWave) process.stdout.write(`\n${rotationWaveTable(result.rotationWave)}\n`);
  for (const [store, r] of Object.entries(results)) {
    if (store !== stores[0]) process.stdout.write(`\n${store} store:\n${propagationTable(r)}\n`);
  }
  // The first store's result at the top level, as before; every store's under `stores`.
  writeResultJson(values.json, { ...result, stores: results });
}

export function rotationWaveTable(w: NonNullable<PropagationResult['rotationWave']>): string {
  return [
    `rotation wave: sigil rotate --all --within ${w.windowMs / 1000}s to ${w.subscribers} subscribers holding SVIDs (each renews with a new key at a random moment in the window)`,
    '',
    '| SVIDs issued by the control plane | renewals completed by subscribers | wave ms | issued/s mean / busiest second | control plane CPU ms per SVID issued | control plane busy | renew call p50 / p99 / max ms (subscriber side) | status: rotated / pending / failed |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${w.issued} | ${w.rotated} / ${w.subscribers} | ${w.wallMs} | ${w.issuancePerSecond.mean} / ${w.issuancePerSecond.peak} | ${w.controlPlaneCpu.perIssuedMs} | ${Math.round(w.controlPlaneCpu.utilisation * 100)} % of one core | ${w.renewMs.p50} / ${w.renewMs.p99} / ${w.renewMs.max} | ${w.status.rotated} / ${w.status.pending} / ${w.status.failed} |`,
    '',
    `subscriber processes' CPU per completed renewal: ${w.subscriberCpuPerRenewalMs} ms (key, CSR, mTLS client, validation of the new SVID)`,
    `setup, not in the wave: ${w.subscribers} attestations in ${w.attest.wallMs} ms (${w.attest.perSecond}/s, 8 in flight per worker)`,
  ].join('\n');
}

if (import.meta.main) runBenchMain('propagation', main);
