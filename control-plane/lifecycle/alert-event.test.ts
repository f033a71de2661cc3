import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Subscription } from 'nats';
import { FakeClock, systemClock } from '../../common/clock.ts';
import { verifyEvent, type EventSigner } from '../../common/events/signed-event.ts';
import { eventSubject, SIDECAR_EVENT_KINDS } from '../../common/events/subjects.ts';
import { createLogger } from '../../common/logger.ts';
import { controlPlaneId } from '../../common/spiffe-id.ts';
import { makeCert, makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { startNatsServer } from '../../test/fixtures/nats-server.ts';
import { NatsEventPublisher } from '../events/nats-event-publisher.ts';
import { ControlPlaneMetrics } from '../metrics.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { DEFAULT_EXPIRY_POLICY } from './expiry-rule.ts';
import { InventoryService } from './inventory-service.ts';
import { LifecycleDuty } from './lifecycle-duty.ts';

const TD = 'example.org';
const DAY = 86_400_000;
const pki = await makeTestPki(TD);
const cp = await pki.issueSvid(controlPlaneId(TD));
const signer: EventSigner = { chainDer: [cp.der, pki.intermediate.der], privateKey: cp.key.privateKey };

const dir = mkdtempSync(join(tmpdir(), 'sigil-alert-event-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const nats = await startNatsServer();
t.teardown(() => nats.stop());

async function firstOf(sub: Subscription): Promise<Uint8Array> {
  for await (const m of sub) return m.data;
  throw new Error('subscription ended');
}

t.test('an alert the engine raises reaches NATS as a verifiable signed event on sigil.<td>.alert', async (t) => {
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(() => store.close());
  const logger = createLogger({ component: 'test', level: 'silent' });
  const publisher = new NatsEventPublisher(
    { servers: [nats.url], trustDomain: TD, reconnectWaitMs: 50 },
    { store, signer: () => signer, clock: systemClock, logger },
  );
  const up = new Promise<void>((resolve) => publisher.onStatus((s) => s === 'connected' && resolve()));
  await publisher.start();
  await up;
  t.teardown(() => publisher.close());

  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const alerts = nc.subscribe(eventSubject(TD, 'alert'), { max: 1 });
  // What a sidecar subscribes to: the alert must not arrive there, so its first message is the bundle sent after it.
  const sidecar = SIDECAR_EVENT_KINDS.map((k) => nc.subscribe(eventSubject(TD, k), { max: 1 }));
  await nc.flush();

  const clock = new FakeClock(Date.now());
  const inventory = new InventoryService({ store, clock });
  const duty = new LifecycleDuty(
    {
      alerts: { everyMs: 300_000, policy: DEFAULT_EXPIRY_POLICY, webhooks: [] },
      discovery: { targets: [], everyMs: 21_600_000, timeoutMs: 1000 },
    },
    { inventory, store, clock, logger, metrics: new ControlPlaneMetrics(), trustDomain: TD, publisher },
  );
  t.teardown(() => duty.close());
  const cert = await makeCert({ dnsNames: ['www.example.com'], notAfter: new Date(clock.now() + 20 * DAY) });
  await inventory.record('imported', [{ location: 'edge.pem', certificates: [cert.der] }], { owner: 'edge-team' });

  const round = await duty.engine.evaluate();
  t.equal(round.raised.length, 1, 'the 30-day alert is raised');
  const data = await firstOf(alerts);
  const result = verifyEvent(data, { trustDomain: TD, roots: [pki.root.der], now: Date.now(), lastSequence: () => 0 });
  if (!result.ok) throw new Error(`alert event did not verify: ${result.reason} ${result.detail}`);
  t.equal(result.kind, 'alert');
  t.equal(result.event.type, 'alert.changed');
  if (result.event.type !== 'alert.changed') return;
  t.equal(result.event.event, 'raised');
  t.match(result.event.alert, {
    alertId: round.raised[0],
    threshold: 'days-30',
    severity: 'warning',
    source: 'imported',
    serial: cert.serial,
    owner: 'edge-team',
    notAfter: cert.cert.notAfter.getTime(),
    resolvedAt: null,
    resolution: null,
  });

  const forged = new Uint8Array(data);
  forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
  t.equal(
    verifyEvent(forged, { trustDomain: TD, roots: [pki.root.der], now: Date.now(), lastSequence: () => 0 }).ok,
    false,
    'a tampered alert event is refused',
  );

  await publisher.publish({ type: 'bundle.updated', roots: [pki.root.der], bundleSequence: 1, refreshHintSeconds: 60 });
  const first = await Promise.race(
    sidecar.map(async (s, i) => ({ kind: SIDECAR_EVENT_KINDS[i], data: await firstOf(s) })),
  );
  t.equal(first.kind, 'bundle', "sidecars' subjects carry no alert: the bundle sent after it comes first");
  for (const s of sidecar) s.unsubscribe();
});
