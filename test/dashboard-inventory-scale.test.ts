import t from 'tap';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { initCa } from '../control-plane/index.ts';
import { ControlPlaneData, type ControlPlaneDataDeps } from '../control-plane/dashboard/control-plane-data.ts';
import type { DashboardData } from '../control-plane/dashboard/dashboard-data.ts';
import { DashboardServer } from '../control-plane/dashboard/dashboard-server.ts';
import { LoginTokens } from '../control-plane/dashboard/login-tokens.ts';
import { SessionCodec } from '../control-plane/dashboard/session-codec.ts';
import { describeCertificate } from '../control-plane/lifecycle/inventory-entry.ts';
import { listingFactsOf } from '../control-plane/lifecycle/inventory-listing.ts';
import { InventoryService } from '../control-plane/lifecycle/inventory-service.ts';
import { SqliteStore } from '../control-plane/store/sqlite-store.ts';
import type { InventoryCertificateRecord } from '../control-plane/store/store.ts';

// Issue 13: a large inventory pages on the server. This measures the dashboard's first page (and the next ones,
// sorted and filtered, and one certificate's detail) and reports the times; it asserts only what the pages hold,
// never a duration. The suite measures 10,000 certificates; SIGIL_DASHBOARD_ROWS=100000 measures the 100,000.
// Pages are filtered, sorted and counted in the store's listing (one row per certificate with the columns pages
// use): only the detail view parses a certificate.
const ROWS = Number(process.env['SIGIL_DASHBOARD_ROWS'] ?? 10_000);
const DAY = 86_400_000;

/**
 * Distinct certificates: one real DER with its serial bytes replaced, each with the listing facts an import records
 * (those of the template, its serial and fingerprint replaced), so seeding is one store transaction, not parsing.
 */
function variants(template: Uint8Array, count: number, now: number): InventoryCertificateRecord[] {
  const serialHex = new X509Certificate(template).serialNumber.toLowerCase();
  const facts = listingFactsOf(describeCertificate(template));
  const at = Buffer.from(template).indexOf(Buffer.from(serialHex, 'hex'));
  if (at < 0) throw new Error('serial not found in the template certificate');
  return Array.from({ length: count }, (_, i) => {
    const der = Buffer.from(template);
    const serial = randomBytes(serialHex.length / 2);
    // Positive and minimal: a leading zero byte would make the DER integer invalid.
    serial[0] = ((serial[0] as number) & 0x7f) | 0x01;
    serial.copy(der, at);
    const fingerprint = createHash('sha256').update(der).digest('hex');
    const name = `host-${i}.bulk.example.com`;
    const notAfter = now + (60 + (i % 400)) * DAY;
    return {
      fingerprint,
      source: 'imported' as const,
      serial: serial.toString('hex'),
      name,
      subject: `CN=${name}`,
      notBefore: now - DAY,
      // Past every alert threshold: the expiry alerts are not what this measures.
      notAfter,
      owner: i % 2 ? 'team-a' : 'team-b',
      labels: {},
      status: 'active' as const,
      der: new Uint8Array(der),
      chain: [],
      recordedAt: now,
      facts: {
        ...facts,
        id: fingerprint,
        serial: serial.toString('hex'),
        subject: `CN=${name}`,
        notBefore: now - DAY,
        notAfter,
        uris: [],
        dnsNames: [name],
      },
    };
  });
}

// The dashboard over a store of that size (its server, session gate and inventory paging, the real InventoryService
// and SQLite store); the rest of a control plane is left out: its background duties over 100,000 certificates are
// not what this measures.
// Seeding 100,000 rows takes a minute or two on a loaded 2-core machine: a long timeout.
t.test(
  `the inventory page of ${ROWS.toLocaleString('en')} certificates is served a page at a time`,
  { timeout: 900_000 },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sigil-dashboard-scale-'));
    const ca = await mkdtemp(join(tmpdir(), 'sigil-dashboard-scale-ca-'));
    await initCa({ dataDir: ca, trustDomain: 'example.org', keyType: 'ec-p256', passphrase: 'x', now: Date.now() });
    const template = new X509Certificate(await readFile(join(ca, 'admin', 'svid.pem'))).raw;
    const store = new SqliteStore({ path: join(dir, 'sigil.db') });
    await store.open();
    const seeding = performance.now();
    await store.recordInventory(variants(template, ROWS, Date.now()), []);
    const seededMs = Math.round(performance.now() - seeding);
    const inventory = new InventoryService({ store, clock: systemClock });
    const cpData = new ControlPlaneData({ inventory } as unknown as ControlPlaneDataDeps);
    const data = new Proxy(cpData, {
      get: (target, name) =>
        name === 'adminActive'
          ? async () => true
          : name === 'sessionSignedOut'
            ? async () => false
            : Reflect.get(target, name).bind(target),
    }) as DashboardData;
    const server = new DashboardServer(
      { listen: { host: '127.0.0.1', port: 0 }, trustDomain: 'example.org', assetsDir: dir },
      {
        data,
        audit: { record: async () => undefined },
        codec: new SessionCodec({ key: randomBytes(32), trustDomain: 'example.org' }),
        loginTokens: new LoginTokens({ clock: systemClock }),
        clock: systemClock,
        logger: silentLogger(),
      },
    );
    const address = await server.start();
    t.teardown(async () => {
      await server.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
      await rm(ca, { recursive: true, force: true });
    });
    const admin = { spiffeId: 'spiffe://example.org/sigil/admin/a', serial: 'a1' };
    const login = await fetch(server.mintLogin(admin).url, { redirect: 'manual' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const base = `http://127.0.0.1:${address.port}`;

    const page = async (query: string) => {
      const started = performance.now();
      const res = await fetch(`${base}/api/inventory?${query}`, { headers: { cookie } });
      const body = (await res.json()) as { total: number; entries: { id: string; name: string }[]; serverMs: number };
      return { ...body, status: res.status, wallMs: Math.round(performance.now() - started) };
    };
    const cold = await page('limit=50');
    t.equal(cold.status, 200);
    t.equal(cold.total, ROWS, `all ${cold.total} certificates counted`);
    t.equal(cold.entries.length, 50, 'one page of 50 goes to the browser');
    const warm = await page('limit=50&offset=50');
    const sorted = await page('limit=50&sort=name&order=desc');
    t.equal(sorted.entries[0]?.name, `host-${ROWS - 1}.bulk.example.com`, 'sorted by name on the server');
    const filtered = await page('limit=50&q=host-4242.');
    t.same(
      filtered.entries.map((e) => e.name),
      ['host-4242.bulk.example.com'],
      'filtered on the server',
    );
    const detailStarted = performance.now();
    const detail = await fetch(`${base}/api/certificate?id=${cold.entries[0]?.id}`, { headers: { cookie } });
    t.equal(detail.status, 200, 'the detail of one certificate');
    const detailBody = (await detail.json()) as { name: string; signatureAlgorithm: string };
    const detailMs = Math.round(performance.now() - detailStarted);
    t.equal(detailBody.name, cold.entries[0]?.name);
    t.equal(detailBody.signatureAlgorithm, 'ecdsa-with-SHA256', 'the detail view parses the certificate');
    const overviewStarted = performance.now();
    const counts = await inventory.counts();
    const overviewMs = Math.round(performance.now() - overviewStarted);
    t.equal(counts.total, ROWS, "the overview's counts cover every certificate");
    t.comment(
      `inventory of ${cold.total} certificates (seeded in ${seededMs} ms), first page: ${cold.serverMs} ms on the server (${cold.wallMs} ms seen by the client); ` +
        `next page ${warm.serverMs} ms; sorted by name ${sorted.serverMs} ms; filtered by text ${filtered.serverMs} ms; ` +
        `one certificate's detail ${detailMs} ms (client time); the overview's counts ${overviewMs} ms`,
    );
  },
);
