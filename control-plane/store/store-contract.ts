import type { Test } from 'tap';
import { ErrorCode, isSigilError } from '../../common/errors.ts';
import type { AlertRecord } from '../lifecycle/alert-plan.ts';
import { runAuditFleetContract } from './store-contract-audit.ts';
import { runInventoryListingContract } from './store-contract-listing.ts';
import { API, cert, HOUR, T0, WEB } from './store-contract-records.ts';
import type {
  InventoryCertificateRecord,
  InventoryFilter,
  CaFileRecord,
  CertificateFilter,
  CertificateRecord,
  JoinTokenRecord,
  RevocationRecord,
  Store,
} from './store.ts';

function token(tokenHash: string, overrides: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return { tokenHash, spiffeId: API, createdAt: T0, expiresAt: T0 + HOUR, usesRemaining: 1, ...overrides };
}

function revocation(serial: string, overrides: Partial<RevocationRecord> = {}): RevocationRecord {
  return {
    serial,
    spiffeId: API,
    reason: 'keyCompromise',
    revokedAt: T0 + 10,
    effectiveAt: T0 + 5,
    notAfter: T0 + HOUR,
    listedPastExpiry: false,
    ...overrides,
  };
}

const plain = (r: CertificateRecord) => ({ ...r, der: [...r.der] });

/**
 * The behaviour every Store must have, run against each implementation. `makeStore` returns a new store over an
 * empty database, not yet opened; each subtest opens and closes its own.
 */
export async function runStoreContract(t: Test, makeStore: () => Promise<Store>): Promise<void> {
  const withStore = (name: string, body: (t: Test, store: Store) => Promise<void>) =>
    t.test(name, async (t) => {
      const store = await makeStore();
      await store.open();
      t.teardown(() => store.close());
      await body(t, store);
    });

  await withStore('a certificate round-trips with every field', async (t, store) => {
    const root = cert('01', { kind: 'root', issuerSerial: null, spiffeId: 'spiffe://example.org', keyType: 'ec-p384' });
    const leaf = cert('0a1b', { kind: 'svid', status: 'revoked' });
    await store.insertCertificate(root);
    await store.insertCertificate(leaf);
    const got = await store.getCertificate('01');
    t.ok(got?.der instanceof Uint8Array, 'der is a Uint8Array');
    t.same(got && plain(got), plain(root));
    t.same(plain((await store.getCertificate('0a1b'))!), plain(leaf));
    t.equal(await store.getCertificate('ff'), undefined, 'unknown serial');
  });

  await withStore("the status of another CA's certificate is set without a revocation record", async (t, store) => {
    await store.insertCertificate(cert('0ace', { kind: 'acme', spiffeId: 'www.example.com' }));
    t.equal(await store.setCertificateStatus('0ace', 'revoked'), true);
    t.equal((await store.getCertificate('0ace'))?.status, 'revoked');
    t.same(await store.listRevocations(), [], "the CA's own revocation list is untouched");
    t.equal(await store.setCertificateStatus('ffff', 'revoked'), false, 'unknown serial');
  });

  await withStore('a second certificate with the same serial is refused', async (t, store) => {
    await store.insertCertificate(cert('01'));
    await t.rejects(store.insertCertificate(cert('01', { spiffeId: WEB })), { code: ErrorCode.INVALID_ARGUMENT });
    t.equal((await store.getCertificate('01'))?.spiffeId, API, 'the first record is kept');
  });

  await withStore('listCertificates filters and orders by notAfter, then serial', async (t, store) => {
    const records = [
      cert('05', { notAfter: T0 + 3 * HOUR, spiffeId: WEB }),
      cert('02', { notAfter: T0 + 1 * HOUR }),
      cert('01', { notAfter: T0 + 1 * HOUR, status: 'revoked' }),
      cert('03', { notAfter: T0 + 2 * HOUR, kind: 'intermediate', issuerSerial: null }),
      cert('04', { notAfter: T0 + 5 * HOUR, kind: 'admin', spiffeId: WEB }),
    ];
    for (const r of records) await store.insertCertificate(r);
    const cases: [string, CertificateFilter | undefined, string[]][] = [
      ['no filter', undefined, ['01', '02', '03', '05', '04']],
      ['empty filter', {}, ['01', '02', '03', '05', '04']],
      ['spiffeId', { spiffeId: WEB }, ['05', '04']],
      ['kind', { kind: 'svid' }, ['01', '02', '05']],
      ['status', { status: 'revoked' }, ['01']],
      ['notAfterBefore is inclusive', { notAfterBefore: T0 + 2 * HOUR }, ['01', '02', '03']],
      ['notAfterAfter is exclusive', { notAfterAfter: T0 + 2 * HOUR }, ['05', '04']],
      ['a window', { notAfterAfter: T0 + HOUR, notAfterBefore: T0 + 3 * HOUR }, ['03', '05']],
      ['combined', { kind: 'svid', status: 'active', spiffeId: API }, ['02']],
      ['nothing matches', { spiffeId: 'spiffe://example.org/none' }, []],
    ];
    for (const [name, filter, serials] of cases) {
      t.same(
        (await store.listCertificates(filter)).map((r) => r.serial),
        serials,
        name,
      );
    }
    const [first] = await store.listCertificates({ status: 'revoked' });
    t.same(first && plain(first), plain(records[2]!), 'listed records carry every field');
  });

  await withStore('hasPublicKey knows every key ever issued, whatever its status', async (t, store) => {
    await store.insertCertificate(cert('01', { publicKeySha256: 'aa'.repeat(32), status: 'revoked' }));
    t.equal(await store.hasPublicKey('aa'.repeat(32)), true);
    t.equal(await store.hasPublicKey('bb'.repeat(32)), false);
  });

  await withStore('a join token round-trips; a duplicate hash is refused', async (t, store) => {
    const record = token('h1', { usesRemaining: 3, spiffeId: WEB });
    await store.insertJoinToken(record);
    t.same(await store.getJoinToken('h1'), record);
    t.equal(await store.getJoinToken('h2'), undefined);
    await t.rejects(store.insertJoinToken(token('h1')), { code: ErrorCode.INVALID_ARGUMENT });
  });

  await withStore('a join token is used only together with recording its certificate', async (t, store) => {
    await store.insertJoinToken(token('h1', { usesRemaining: 1 }));
    await store.insertCertificate(cert('01'));
    await t.rejects(
      store.insertCertificate(cert('01'), { consumeToken: { tokenHash: 'h1', now: T0 } }),
      { code: ErrorCode.INVALID_ARGUMENT },
      'recording fails (here: a duplicate serial)',
    );
    t.equal((await store.getJoinToken('h1'))?.usesRemaining, 1, 'so the token stays usable');
    t.match(await store.insertCertificate(cert('02'), { consumeToken: { tokenHash: 'h1', now: T0 } }), { ok: true });
    t.equal((await store.getJoinToken('h1'))?.usesRemaining, 0);
    t.same(await store.insertCertificate(cert('03'), { consumeToken: { tokenHash: 'h1', now: T0 } }), {
      ok: false,
      reason: 'used',
    });
    t.equal(await store.getCertificate('03'), undefined, 'a refused token records nothing');
  });

  await withStore('consumeJoinToken decrements until used up', async (t, store) => {
    await store.insertJoinToken(token('h1', { usesRemaining: 2 }));
    const first = await store.consumeJoinToken('h1', T0);
    t.same(first, { ok: true, token: token('h1', { usesRemaining: 1 }) }, 'returns the token as left by this use');
    t.same(await store.consumeJoinToken('h1', T0 + 1), { ok: true, token: token('h1', { usesRemaining: 0 }) });
    t.same(await store.consumeJoinToken('h1', T0 + 2), { ok: false, reason: 'used' });
    t.equal((await store.getJoinToken('h1'))?.usesRemaining, 0, 'never goes below zero');
  });

  await withStore('consumeJoinToken names why it refused', async (t, store) => {
    await store.insertJoinToken(token('live'));
    await store.insertJoinToken(token('spent', { usesRemaining: 0 }));
    await store.insertJoinToken(token('spent-and-old', { usesRemaining: 0 }));
    const cases: [string, string, number, string][] = [
      ['unknown hash', 'nope', T0, 'unknown'],
      ['expiry is exclusive: at expiresAt it is expired', 'live', T0 + HOUR, 'expired'],
      ['after expiry', 'live', T0 + 2 * HOUR, 'expired'],
      ['no uses left', 'spent', T0, 'used'],
      ['expired wins over used', 'spent-and-old', T0 + HOUR, 'expired'],
    ];
    for (const [name, hash, now, reason] of cases) {
      t.same(await store.consumeJoinToken(hash, now), { ok: false, reason }, name);
    }
    t.equal((await store.getJoinToken('live'))?.usesRemaining, 1, 'a refused use changes nothing');
    t.ok((await store.consumeJoinToken('live', T0 + HOUR - 1)).ok, 'one millisecond before expiry still works');
  });

  await withStore('join tokens: prefix binding round-trips; list and revoke (issue 20)', async (t, store) => {
    const prefix = token('p1', {
      spiffeId: 'spiffe://example.org/ns/prod/sa/web',
      usesRemaining: 5,
      matchPrefix: true,
    });
    await store.insertJoinToken(prefix);
    await store.insertJoinToken(token('e1', { createdAt: T0 + 1 }));
    t.same(await store.getJoinToken('p1'), prefix);
    t.same(
      (await store.listJoinTokens()).map((r) => r.tokenHash),
      ['p1', 'e1'],
      'oldest first',
    );
    t.same(await store.revokeJoinToken('p1', T0 + 5), { ...prefix, revokedAt: T0 + 5 });
    t.equal((await store.revokeJoinToken('p1', T0 + 9))?.revokedAt, T0 + 5, 'revoking twice keeps the first time');
    t.equal(await store.revokeJoinToken('nope', T0), undefined);
    t.same(await store.consumeJoinToken('p1', T0 + 6), { ok: false, reason: 'revoked' });
    t.equal((await store.getJoinToken('p1'))?.usesRemaining, 5, 'a revoked token is not consumed');
    t.ok((await store.consumeJoinToken('e1', T0 + 6)).ok, 'other tokens are untouched');
  });

  await withStore('concurrent uses of a one-use token: exactly one wins', async (t, store) => {
    await store.insertJoinToken(token('h1'));
    const results = await Promise.all(Array.from({ length: 8 }, () => store.consumeJoinToken('h1', T0)));
    t.equal(results.filter((r) => r.ok).length, 1);
    t.same(
      results.filter((r) => !r.ok).map((r) => !r.ok && r.reason),
      Array(7).fill('used'),
    );
  });

  await withStore('meta stores, replaces and keeps empty values', async (t, store) => {
    t.equal(await store.getMeta('ca.root'), undefined);
    await store.setMeta('ca.root', 'one');
    await store.setMeta('ca.root', 'two');
    await store.setMeta('empty', '');
    t.equal(await store.getMeta('ca.root'), 'two');
    t.equal(await store.getMeta('empty'), '');
  });

  await withStore('sequences start at 1, are independent and never repeat', async (t, store) => {
    t.equal(await store.currentSequence('events'), 0, 'unknown sequence reads 0');
    t.equal(await store.nextSequence('events'), 1);
    t.equal(await store.nextSequence('events'), 2);
    t.equal(await store.nextSequence('policy'), 1);
    t.equal(await store.currentSequence('events'), 2);
    const burst = await Promise.all(Array.from({ length: 50 }, () => store.nextSequence('events')));
    t.same(
      [...burst].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 3),
      'concurrent calls get distinct values',
    );
    t.equal(await store.currentSequence('events'), 52);
    t.equal(await store.currentSequence('policy'), 1);
  });

  await withStore('revokeCertificates records, marks the inventory and is idempotent', async (t, store) => {
    await store.insertCertificate(cert('01'));
    await store.insertCertificate(cert('02'));
    await store.insertCertificate(cert('03'));
    t.same(
      await store.revokeCertificates([revocation('02'), revocation('01')]),
      ['02', '01'],
      'newly revoked, in input order',
    );
    t.same(
      await store.revokeCertificates([revocation('01', { reason: 'superseded', revokedAt: T0 + 99 })]),
      [],
      'a second revocation reports nothing',
    );
    t.same(await store.getRevocation('01'), revocation('01'), 'the first record is kept');
    t.equal(await store.getRevocation('03'), undefined);
    t.same(
      (await store.listCertificates({ status: 'revoked' })).map((r) => r.serial),
      ['01', '02'],
      'inventory status follows',
    );
    t.equal((await store.getCertificate('03'))?.status, 'active', 'others untouched');
  });

  await withStore('a revocation change and its CRL meta commit together', async (t, store) => {
    await store.insertCertificate(cert('01'));
    t.same(await store.revokeCertificates([revocation('01')], { key: 'crl.current', value: 'one' }), ['01']);
    t.equal(await store.getMeta('crl.current'), 'one', 'written with the revocation');
    await store.revokeIdentity({ spiffeId: API, reason: 'keyCompromise', revokedAt: T0 }, [], {
      key: 'crl.current',
      value: 'two',
    });
    t.equal(await store.getMeta('crl.current'), 'two');
    t.equal(await store.unrevokeIdentity(API, { key: 'crl.current', value: 'three' }), true);
    t.equal(await store.getMeta('crl.current'), 'three');
  });

  await withStore('listRevocations orders by serial and filters by notAfter', async (t, store) => {
    await store.revokeCertificates([
      revocation('0c', { notAfter: T0 + 3 * HOUR }),
      revocation('0a', { notAfter: T0 + HOUR }),
      revocation('0b', { notAfter: T0 + 2 * HOUR }),
    ]);
    t.same(
      (await store.listRevocations()).map((r) => r.serial),
      ['0a', '0b', '0c'],
    );
    t.same(
      (await store.listRevocations({ notAfterAfter: T0 + HOUR })).map((r) => r.serial),
      ['0b', '0c'],
      'notAfterAfter is exclusive',
    );
    t.same(await store.listRevocations({ notAfterAfter: T0 + 3 * HOUR }), []);
  });

  await withStore('a revocation listed past expiry stays listed after notAfter', async (t, store) => {
    await store.revokeCertificates([
      revocation('0a', { notAfter: T0 + HOUR, listedPastExpiry: true }),
      revocation('0b', { notAfter: T0 + HOUR }),
    ]);
    t.same(
      (await store.listRevocations({ notAfterAfter: T0 + 2 * HOUR })).map((r) => r.serial),
      ['0a'],
      'only the signing certificate remains',
    );
    t.equal((await store.getRevocation('0a'))?.listedPastExpiry, true, 'the flag reads back');
    t.equal((await store.getRevocation('0b'))?.listedPastExpiry, false);
  });

  await withStore('revokeIdentity remembers the identity and revokes its certificates together', async (t, store) => {
    await store.insertCertificate(cert('01'));
    await store.insertCertificate(cert('02'));
    const identity = { spiffeId: API, reason: 'keyCompromise', revokedAt: T0 };
    t.same(await store.revokeIdentity(identity, [revocation('01'), revocation('02')]), {
      identityAdded: true,
      revokedSerials: ['01', '02'],
    });
    t.same(
      await store.revokeIdentity({ ...identity, reason: 'superseded', revokedAt: T0 + 1 }, [revocation('01')]),
      { identityAdded: false, revokedSerials: [] },
      'twice changes nothing',
    );
    t.same(await store.getRevokedIdentity(API), identity, 'the first record is kept');
    t.same(await store.listRevokedIdentities(), [identity]);
    t.equal(await store.getRevokedIdentity(WEB), undefined);
    t.same(
      (await store.listCertificates({ status: 'revoked' })).map((r) => r.serial),
      ['01', '02'],
    );
  });

  await withStore('unrevokeIdentity forgets the identity, not the certificate revocations', async (t, store) => {
    await store.insertCertificate(cert('01'));
    await store.revokeIdentity({ spiffeId: WEB, reason: 'unspecified', revokedAt: T0 }, []);
    await store.revokeIdentity({ spiffeId: API, reason: 'unspecified', revokedAt: T0 }, [revocation('01')]);
    t.same(
      (await store.listRevokedIdentities()).map((r) => r.spiffeId),
      [API, WEB],
      'ordered by SPIFFE ID',
    );
    t.equal(await store.unrevokeIdentity(API), true);
    t.equal(await store.unrevokeIdentity(API), false, 'a second unrevoke reports nothing');
    t.equal(await store.getRevokedIdentity(API), undefined);
    t.equal((await store.getCertificate('01'))?.status, 'revoked');
    t.ok(await store.getRevocation('01'));
    t.same(
      (await store.listRevokedIdentities()).map((r) => r.spiffeId),
      [WEB],
    );
  });

  await withStore('a renewal records which certificate it replaced, in the same write', async (t, store) => {
    await store.insertCertificate(cert('01'));
    t.equal((await store.getCertificate('01'))?.supersededBy, null, 'a new certificate replaces nothing yet');
    await store.insertCertificate(cert('02'), { supersedes: '01' });
    t.equal((await store.getCertificate('01'))?.supersededBy, '02');
    t.equal((await store.getCertificate('02'))?.supersededBy, null);
    await t.rejects(store.insertCertificate(cert('02'), { supersedes: '01' }), 'a duplicate serial is refused');
    t.equal((await store.getCertificate('01'))?.supersededBy, '02', 'and the failed write changed nothing');
  });

  await withStore('rotation orders are kept and the latest is found', async (t, store) => {
    t.equal(await store.latestRotationOrder(), undefined);
    const first = {
      orderId: 'a1',
      targetKind: 'all' as const,
      target: '',
      windowMs: 60_000,
      reason: 'operator',
      createdAt: T0,
    };
    const second = {
      orderId: 'b2',
      targetKind: 'prefix' as const,
      target: 'spiffe://example.org/ns/prod/',
      windowMs: 1,
      reason: 'ca-activate',
      createdAt: T0 + 1,
    };
    await store.insertRotationOrder(second);
    await store.insertRotationOrder(first);
    t.same(await store.getRotationOrder('a1'), first);
    t.same(await store.latestRotationOrder(), second, 'by creation time, not insertion order');
    t.equal(await store.getRotationOrder('zz'), undefined);
    t.same(await store.listRotationOrders(T0 - 1), [first, second], 'oldest first');
    t.same(await store.listRotationOrders(T0), [second], 'createdAfter is exclusive');
    await t.rejects(store.insertRotationOrder(first), 'an order id is unique');
  });

  await withStore(
    'the CA files are replaced whole, only by the writer that read the latest generation',
    async (t, store) => {
      t.same(await store.getCaFiles(), { generation: 0, files: [] }, 'none before the first write');
      const file = (name: string, data: number[], overrides: Partial<CaFileRecord> = {}): CaFileRecord => ({
        name,
        data: Uint8Array.from(data),
        mode: 0o644,
        sealed: false,
        ...overrides,
      });
      const first = [
        file('ca.json', [1, 2]),
        file('intermediate.key', [3], { mode: 0o600 }),
        file('admin/key.pem', [4], { mode: 0o600, sealed: true }),
      ];
      t.equal(await store.replaceCaFiles(first, 0), 1);
      const read = await store.getCaFiles();
      t.equal(read.generation, 1);
      t.same(
        read.files.map((f) => ({ ...f, data: [...f.data] })),
        [...first].sort((a, b) => (a.name < b.name ? -1 : 1)).map((f) => ({ ...f, data: [...f.data] })),
        'every field, ordered by name',
      );
      const results = await Promise.all([
        store.replaceCaFiles([file('ca.json', [9])], 1),
        store.replaceCaFiles([file('ca.json', [8])], 1),
      ]);
      t.same(
        results.filter((r) => r !== undefined),
        [2],
        'of two writers that read generation 1, one wins',
      );
      t.equal(await store.replaceCaFiles([file('ca.json', [7])], 1), undefined, 'a stale writer changes nothing');
      const last = await store.getCaFiles();
      t.equal(last.generation, 2);
      t.equal(last.files.length, 1, 'the set is replaced, not merged');
    },
  );

  const external = (
    fingerprint: string,
    overrides: Partial<InventoryCertificateRecord> = {},
  ): InventoryCertificateRecord => ({
    fingerprint,
    source: 'imported',
    serial: `5e${fingerprint}`,
    name: 'db.example.com',
    subject: 'CN=db.example.com',
    notBefore: T0,
    notAfter: T0 + 90 * 24 * HOUR,
    owner: 'data-team',
    labels: { env: 'prod' },
    status: 'active',
    der: Uint8Array.from([0x30, 0x03, 0x02, 0x01, fingerprint.length]),
    chain: [Uint8Array.from([0x30, 0x00]), Uint8Array.from([0x30, 0x01, 0x05])],
    recordedAt: T0,
    ...overrides,
  });
  const plainInventory = (r: InventoryCertificateRecord) => ({
    ...r,
    der: [...r.der],
    chain: r.chain.map((c) => [...c]),
  });

  await withStore('imported and discovered certificates: one row per certificate, sightings kept', async (t, store) => {
    await store.recordInventory(
      [external('aa')],
      [{ fingerprint: 'aa', location: '/etc/db.pem', firstSeen: T0, lastSeen: T0 }],
    );
    t.same(plainInventory((await store.getInventoryCertificate('aa'))!), plainInventory(external('aa')), 'round-trips');
    // Imported again from elsewhere with a new owner and a label, and seen again at the first place.
    await store.recordInventory(
      [external('aa', { owner: 'platform', labels: { tier: '1' }, notAfter: 0 })],
      [
        { fingerprint: 'aa', location: '/etc/db.pem', firstSeen: T0 + HOUR, lastSeen: T0 + HOUR },
        { fingerprint: 'aa', location: 'db:5432', firstSeen: T0 + 2 * HOUR, lastSeen: T0 + 2 * HOUR },
      ],
    );
    const again = await store.getInventoryCertificate('aa');
    t.equal(again?.owner, 'platform', 'a named owner replaces');
    t.same(again?.labels, { env: 'prod', tier: '1' }, 'labels extend');
    t.equal(again?.notAfter, T0 + 90 * 24 * HOUR, 'the certificate facts are the first ones');
    await store.recordInventory([external('aa', { owner: '', labels: {} })], []);
    t.equal((await store.getInventoryCertificate('aa'))?.owner, 'platform', 'an empty owner keeps the known one');
    t.same(await store.listSightings(), [
      { fingerprint: 'aa', location: '/etc/db.pem', firstSeen: T0, lastSeen: T0 + HOUR },
      { fingerprint: 'aa', location: 'db:5432', firstSeen: T0 + 2 * HOUR, lastSeen: T0 + 2 * HOUR },
    ]);
    t.equal(await store.removeInventoryCertificate('aa'), true);
    t.equal(await store.removeInventoryCertificate('aa'), false);
    t.same(await store.listSightings(), [], 'sightings go with the certificate');
  });

  await withStore('certificate labels: owner replaces, labels extend, an empty value removes one', async (t, store) => {
    t.same(await store.listCertificateAnnotations(), []);
    const first = await store.annotateCertificate({
      fingerprint: 'cc',
      owner: 'payments',
      labels: { env: 'prod', tier: '1' },
      updatedAt: T0,
    });
    t.same(first, { fingerprint: 'cc', owner: 'payments', labels: { env: 'prod', tier: '1' }, updatedAt: T0 });
    const second = await store.annotateCertificate({
      fingerprint: 'cc',
      owner: '',
      labels: { tier: '', app: 'api' },
      updatedAt: T0 + HOUR,
    });
    t.same(second, { fingerprint: 'cc', owner: 'payments', labels: { env: 'prod', app: 'api' }, updatedAt: T0 + HOUR });
    await store.annotateCertificate({ fingerprint: 'bb', owner: 'edge', labels: {}, updatedAt: T0 });
    t.same(await store.listCertificateAnnotations(), [
      { fingerprint: 'bb', owner: 'edge', labels: {}, updatedAt: T0 },
      second,
    ]);
  });

  await withStore('a failed inventory write leaves nothing half-written', async (t, store) => {
    const bad = { ...external('bb'), der: undefined as unknown as Uint8Array };
    await t.rejects(
      store.recordInventory(
        [external('b0'), bad],
        [{ fingerprint: 'b0', location: 'x:1', firstSeen: T0, lastSeen: T0 }],
      ),
    );
    t.same(await store.listInventory(), []);
    t.same(await store.listSightings(), []);
  });

  await withStore('listInventory filters by source, owner and expiry window', async (t, store) => {
    await store.recordInventory(
      [
        external('01', { notAfter: T0 + 3 * HOUR }),
        external('02', { notAfter: T0 + 1 * HOUR, source: 'discovered', owner: '' }),
        external('03', { notAfter: T0 + 2 * HOUR, owner: 'web' }),
      ],
      [],
    );
    const cases: [string, InventoryFilter | undefined, string[]][] = [
      ['all, by notAfter', undefined, ['02', '03', '01']],
      ['source', { source: 'discovered' }, ['02']],
      ['owner', { owner: 'web' }, ['03']],
      ['window', { notAfterAfter: T0 + HOUR, notAfterBefore: T0 + 2 * HOUR }, ['03']],
    ];
    for (const [name, filter, fingerprints] of cases) {
      t.same(
        (await store.listInventory(filter)).map((r) => r.fingerprint),
        fingerprints,
        name,
      );
    }
  });

  await withStore('alerts are raised once per id, resolved once, and deliveries recorded', async (t, store) => {
    const alert = (alertId: string, raisedAt: number): AlertRecord => ({
      alertId,
      certificateId: alertId.split('/')[0] ?? '',
      threshold: 'days-30',
      severity: 'warning',
      source: 'imported',
      serial: '5e01',
      subject: 'CN=db.example.com',
      owner: 'data-team',
      notAfter: T0 + 30 * 24 * HOUR,
      message: 'db.example.com expires within 30 days',
      raisedAt,
      resolvedAt: null,
      resolution: null,
    });
    t.same(await store.raiseAlerts([alert('c1/days-30', T0), alert('c2/days-30', T0 + 1)]), [
      'c1/days-30',
      'c2/days-30',
    ]);
    t.same(await store.raiseAlerts([alert('c1/days-30', T0 + 5)]), [], 'raised once');
    // Two leaders raising the same alert at once write one row.
    const both = await Promise.all([
      store.raiseAlerts([alert('c3/days-30', T0)]),
      store.raiseAlerts([alert('c3/days-30', T0)]),
    ]);
    t.same(both.flat(), ['c3/days-30']);
    t.same(await store.resolveAlerts([{ alertId: 'c1/days-30', resolution: 'replaced' }], T0 + HOUR), ['c1/days-30']);
    t.same(await store.resolveAlerts([{ alertId: 'c1/days-30', resolution: 'revoked' }], T0 + 2 * HOUR), [], 'once');
    t.same(
      (await store.listAlerts({ open: true })).map((a) => a.alertId),
      ['c3/days-30', 'c2/days-30'],
    );
    const all = await store.listAlerts();
    t.same(
      all.find((a) => a.alertId === 'c1/days-30'),
      { ...alert('c1/days-30', T0), resolvedAt: T0 + HOUR, resolution: 'replaced' },
    );
    const delivery = (attempt: number, outcome: 'delivered' | 'failed') => ({
      deliveryId: `c2/days-30/raised/webhook/https://hooks.example/a/${attempt}`,
      alertId: 'c2/days-30',
      event: 'raised' as const,
      channel: 'webhook' as const,
      target: 'https://hooks.example/a',
      attempt,
      attemptedAt: T0 + attempt,
      outcome,
      detail: outcome === 'failed' ? 'HTTP 500' : 'HTTP 204',
    });
    await store.recordAlertDelivery(delivery(2, 'delivered'));
    await store.recordAlertDelivery(delivery(1, 'failed'));
    await store.recordAlertDelivery(delivery(1, 'delivered'));
    t.same(await store.listAlertDeliveries({ alertId: 'c2/days-30' }), [
      delivery(1, 'failed'),
      delivery(2, 'delivered'),
    ]);
    t.same(await store.listAlertDeliveries({ alertId: 'none' }), []);
  });

  await runAuditFleetContract(withStore);
  await runInventoryListingContract(withStore);

  await t.test('a closed store refuses work', async (t) => {
    const store = await makeStore();
    await store.open();
    await store.close();
    const err = await store.getMeta('x').then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isSigilError(err, ErrorCode.UNAVAILABLE), 'rejects with UNAVAILABLE');
  });
}
