import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { makeCert, type TestCert } from '../../test/fixtures/cert-factory.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { CertificateRecord } from '../store/store.ts';
import { InventoryService } from './inventory-service.ts';

const DAY = 86_400_000;
const NOW = Date.now();
const API = 'spiffe://example.org/ns/prod/sa/api';

async function fixture(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-inventory-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(() => store.close());
  const clock = new FakeClock(NOW);
  return { store, clock, inventory: new InventoryService({ store, clock }) };
}

const at = (ms: number) => new Date(ms);

function issued(cert: TestCert, overrides: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: cert.serial,
    spiffeId: API,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: cert.cert.notBefore.getTime(),
    notAfter: cert.cert.notAfter.getTime(),
    issuerSerial: null,
    status: 'active',
    issuedAt: cert.cert.notBefore.getTime(),
    publicKeySha256: cert.serial.padStart(64, '0'),
    der: cert.der,
    ...overrides,
  };
}

t.test('one inventory across sources: filters, expiring windows, paging', async (t) => {
  const { store, inventory } = await fixture(t);
  const ca = await makeCert({ subject: 'CN=Edge CA', isCa: true, notAfter: at(NOW + 900 * DAY) });
  const edge = await makeCert({
    subject: 'CN=www.example.com',
    dnsNames: ['www.example.com'],
    issuer: ca,
    notAfter: at(NOW + 20 * DAY),
  });
  const db = await makeCert({
    subject: 'CN=db.example.com',
    dnsNames: ['db.example.com'],
    issuer: ca,
    notAfter: at(NOW + 60 * DAY),
  });
  const svid = await makeCert({ uris: [API], notAfter: at(NOW + 3_600_000) });
  await store.insertCertificate(issued(svid));
  const imported = await inventory.record(
    'imported',
    [{ location: '/etc/edge/chain.pem', certificates: [edge.der, ca.der] }],
    {
      owner: 'edge-team',
      labels: { env: 'prod' },
    },
  );
  t.same(
    imported.map((e) => [e.name, e.source, e.owner, e.chain.length]),
    [
      ['www.example.com', 'imported', 'edge-team', 1],
      ['CN=Edge CA', 'imported', 'edge-team', 0],
    ],
    'every certificate of an imported file, each with the rest of the chain',
  );
  const found = await inventory.record('discovered', [
    { location: 'db.example.com:5432', certificates: [db.der, ca.der] },
  ]);
  t.same(
    found.map((e) => [e.name, e.seen[0]?.location, e.chain.length]),
    [['db.example.com', 'db.example.com:5432', 1]],
    'only the leaf of an endpoint',
  );

  const names = async (q: Parameters<InventoryService['list']>[0]) =>
    (await inventory.list(q)).entries.map((e) => e.name);
  t.same(await names({}), [API, 'www.example.com', 'db.example.com', 'CN=Edge CA'], 'ordered by notAfter');
  t.same(
    await names({ expiringWithinMs: 30 * DAY }),
    [API, 'www.example.com'],
    'expiring within 30 days, across sources',
  );
  t.same(await names({ source: 'discovered' }), ['db.example.com']);
  t.same(await names({ source: 'issued' }), [API]);
  t.same(await names({ owner: 'edge-team' }), ['www.example.com', 'CN=Edge CA']);
  t.same(await names({ labels: { env: 'prod' } }), ['www.example.com', 'CN=Edge CA']);
  t.same(await names({ labels: { env: 'dev' } }), []);
  const first = await inventory.list({ pageSize: 3 });
  t.equal(first.total, 4);
  const second = await inventory.list({ pageSize: 3, pageToken: first.nextPageToken });
  t.same(
    [...first.entries, ...second.entries].map((e) => e.name),
    await names({}),
    'pages cover everything once',
  );
  t.equal(second.nextPageToken, '');
  const edgeEntry = (await inventory.list({ owner: 'edge-team' })).entries[0];
  t.match(edgeEntry, {
    keyAlgorithm: 'ec',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
    dnsNames: ['www.example.com'],
    status: 'active',
  });
  t.equal(edgeEntry?.fingerprintSha256.length, 64);
  t.equal(edgeEntry?.fingerprintSha1.length, 40);
  await t.rejects(inventory.list({ status: 'lost' as never }), {
    code: ErrorCode.INVALID_ARGUMENT,
    message: /unknown status "lost": use one of/,
  });
});

t.test(
  'status: a renewed SVID is superseded, a re-issued edge certificate supersedes the old one, expiry shows',
  async (t) => {
    const { store, clock, inventory } = await fixture(t);
    const old = await makeCert({ uris: [API] });
    const renewed = await makeCert({ uris: [API] });
    // Another instance of the same identity: still active, its own lineage.
    const sibling = await makeCert({ uris: [API] });
    await store.insertCertificate(issued(old));
    await store.insertCertificate(issued(sibling));
    await store.insertCertificate(issued(renewed), { supersedes: old.serial });
    const bySerial = async () => Object.fromEntries((await inventory.all()).map((e) => [e.serial, e.status]));
    t.same(await bySerial(), { [old.serial]: 'superseded', [renewed.serial]: 'active', [sibling.serial]: 'active' });

    const v1 = await makeCert({
      dnsNames: ['www.example.com'],
      notBefore: at(NOW - 10 * DAY),
      notAfter: at(NOW + 5 * DAY),
    });
    const v2 = await makeCert({
      dnsNames: ['www.example.com'],
      notBefore: at(NOW - DAY),
      notAfter: at(NOW + 85 * DAY),
    });
    await inventory.record('imported', [{ location: 'v1.pem', certificates: [v1.der] }]);
    t.equal((await bySerial())[v1.serial], 'active');
    await inventory.record('discovered', [{ location: 'www.example.com:443', certificates: [v2.der] }]);
    t.equal((await bySerial())[v1.serial], 'superseded', 'a newer certificate of the same name replaces it');
    await clock.advance(2 * 3_600_000);
    t.equal((await bySerial())[sibling.serial], 'expired');
  },
);

t.test('a batch with one bad certificate records nothing', async (t) => {
  const { inventory } = await fixture(t);
  const good = await makeCert({ dnsNames: ['a.example.com'] });
  await t.rejects(
    inventory.record('imported', [
      { location: 'good.pem', certificates: [good.der] },
      { location: 'bad.pem', certificates: [Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01])] },
    ]),
    { code: ErrorCode.CERTIFICATE_INPUT, message: /^bad\.pem: certificate 1 could not be decoded/ },
  );
  t.same((await inventory.all()).length, 0);
});

t.test(
  'certificates stored without listing rows are listed by the catch-up, with turns of the event loop',
  async (t) => {
    const { store, inventory } = await fixture(t);
    const certs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        makeCert({ dnsNames: [`h${i}.example.com`], notAfter: at(NOW + (i + 1) * DAY) }),
      ),
    );
    // As a store written before migration 11 holds them: no facts, so no listing rows.
    await store.recordInventory(
      certs.map((c, i) => ({
        fingerprint: createHash('sha256').update(c.der).digest('hex'),
        source: 'imported' as const,
        serial: c.serial,
        name: `h${i}.example.com`,
        subject: `CN=h${i}`,
        notBefore: c.cert.notBefore.getTime(),
        notAfter: c.cert.notAfter.getTime(),
        owner: 'ops',
        labels: {},
        status: 'active' as const,
        der: c.der,
        chain: [],
        recordedAt: NOW,
      })),
      [],
    );
    t.equal(await store.countUnlisted(), 12);
    let turns = 0;
    const counting = setInterval(() => turns++, 0);
    await inventory.catchUp();
    clearInterval(counting);
    t.ok(turns > 0, 'other work ran while the certificates were parsed');
    t.equal(await store.countUnlisted(), 0);
    const page = await inventory.list({ owner: 'ops', pageSize: 2 });
    t.equal(page.total, 12);
    t.same(
      page.entries.map((e) => [e.name, e.keyAlgorithm, e.dnsNames]),
      [
        ['h0.example.com', 'ec', ['h0.example.com']],
        ['h1.example.com', 'ec', ['h1.example.com']],
      ],
    );
  },
);
