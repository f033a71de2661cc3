import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { createLogger } from '../../common/logger.ts';
import { makeCert } from '../../test/fixtures/cert-factory.ts';
import { ControlPlaneMetrics } from '../metrics.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { DEFAULT_EXPIRY_POLICY } from './expiry-rule.ts';
import { InventoryService } from './inventory-service.ts';
import { LifecycleDuty } from './lifecycle-duty.ts';
import { backoffMs, signBody } from './webhook-sender.ts';

const DAY = 86_400_000;
const SECRET = 'webhook shared secret';

/** A webhook receiver on loopback that answers 500 to the first `failures` deliveries, then 204. */
async function receiver(t: Test, failures: number) {
  const received: { body: string; signature: string; delivery: string; status: number }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const status = received.length < failures ? 500 : 204;
      received.push({
        body,
        signature: String(req.headers['x-sigil-signature']),
        delivery: String(req.headers['x-sigil-delivery']),
        status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

async function fixture(t: Test, url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-alerts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(() => store.close());
  const clock = new FakeClock(Date.now());
  const inventory = new InventoryService({ store, clock });
  const metrics = new ControlPlaneMetrics();
  const duty = new LifecycleDuty(
    {
      alerts: {
        everyMs: 300_000,
        policy: DEFAULT_EXPIRY_POLICY,
        webhooks: [{ url, secret: SECRET, maxAttempts: 5, initialBackoffMs: 1000, maxBackoffMs: 60_000 }],
      },
      discovery: { targets: [], everyMs: 21_600_000, timeoutMs: 1000 },
    },
    {
      inventory,
      store,
      clock,
      logger: createLogger({ component: 'test', level: 'silent' }),
      metrics,
      trustDomain: 'example.org',
    },
  );
  t.teardown(() => duty.close());
  return { store, clock, inventory, metrics, duty };
}

t.test('backoff doubles from the initial delay and is capped', async (t) => {
  t.same(
    [1, 2, 3, 4, 10].map((n) => backoffMs(n, 1000, 5000)),
    [1000, 2000, 4000, 5000, 5000],
  );
});

t.test('a receiver that fails twice gets the signed alert on the third try; every attempt is recorded', async (t) => {
  const hook = await receiver(t, 2);
  const { store, clock, inventory, metrics, duty } = await fixture(t, hook.url);
  const cert = await makeCert({ dnsNames: ['www.example.com'], notAfter: new Date(clock.now() + 20 * DAY) });
  await inventory.record('imported', [{ location: 'edge.pem', certificates: [cert.der] }], { owner: 'edge-team' });

  const round = await duty.engine.evaluate();
  t.equal(round.raised.length, 1, 'the 30-day alert is raised');
  await clock.waitForTimers(1);
  clock.advance(1000);
  await clock.waitForTimers(1);
  clock.advance(2000);
  await duty.settled();

  t.same(
    hook.received.map((r) => r.status),
    [500, 500, 204],
  );
  for (const r of hook.received) t.equal(r.signature, signBody(SECRET, r.body), 'HMAC-SHA256 over the exact body');
  t.equal(new Set(hook.received.map((r) => r.body)).size, 1, 'the same document each time');
  const doc = JSON.parse(hook.received[0]?.body ?? '{}');
  t.match(doc, {
    type: 'certificate.alert.raised',
    trustDomain: 'example.org',
    alert: { threshold: 'days-30', severity: 'warning', source: 'imported', serial: cert.serial, owner: 'edge-team' },
  });
  const attempts = await store.listAlertDeliveries();
  t.same(
    attempts.map((a) => [a.attempt, a.outcome, a.detail]),
    [
      [1, 'failed', 'HTTP 500'],
      [2, 'failed', 'HTTP 500'],
      [3, 'delivered', 'HTTP 204'],
    ],
  );
  const text = (await metrics.render()).body;
  t.match(text, /sigil_certificate_alerts\{severity="warning"\} 1/);
  t.match(
    text,
    new RegExp(
      `sigil_certificate_expiration_timestamp_seconds\\{serial="${cert.serial}",subject="CN=test",source="imported",owner="edge-team"\\} ${cert.cert.notAfter.getTime() / 1000}`,
    ),
  );

  // Evaluating again raises nothing: one alert per certificate and threshold.
  t.same(await duty.engine.evaluate(), { raised: [], resolved: [] });
  // The replacement appears: the alert resolves and the receiver hears of it.
  const next = await makeCert({
    dnsNames: ['www.example.com'],
    notBefore: new Date(clock.now() + 1000),
    notAfter: new Date(clock.now() + 90 * DAY),
  });
  await inventory.record('discovered', [{ location: 'www.example.com:443', certificates: [next.der] }]);
  t.equal((await duty.engine.evaluate()).resolved.length, 1);
  await duty.settled();
  t.match(JSON.parse(hook.received.at(-1)?.body ?? '{}'), {
    type: 'certificate.alert.resolved',
    alert: { resolution: 'replaced' },
  });
  t.match((await metrics.render()).body, /sigil_certificate_alerts\{severity="warning"\} 0/);
});

t.test('a webhook that is down never holds up evaluation, and is retried', async (t) => {
  const hook = await receiver(t, 0);
  const down = hook.url.replace(/:\d+\//, ':1/');
  const { store, clock, inventory, duty } = await fixture(t, down);
  const cert = await makeCert({
    dnsNames: ['db.example.com'],
    notBefore: new Date(clock.now() - 60 * DAY),
    notAfter: new Date(clock.now() + 3 * DAY),
  });
  await inventory.record('imported', [{ location: 'db.pem', certificates: [cert.der] }]);
  const round = await duty.engine.evaluate();
  t.equal(round.raised.length, 1, 'evaluation finished whatever the webhook does');
  await clock.waitForTimers(1);
  const attempts = await store.listAlertDeliveries();
  t.equal(attempts.length, 1);
  t.equal(attempts[0]?.outcome, 'failed');
  t.equal((await store.listAlerts({ open: true }))[0]?.severity, 'critical', '7 days or less is critical');
});
