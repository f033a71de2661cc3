import type { Test } from 'tap';
import type { InventoryCertificateRecord, InventoryListingFacts, InventoryListingQuery, Store } from './store.ts';
import { API, cert, HOUR, T0 } from './store-contract-records.ts';

const facts = (id: string, overrides: Partial<InventoryListingFacts> = {}): InventoryListingFacts => ({
  id,
  serial: `5e${id}`,
  subject: `CN=${id}.example.com`,
  issuer: 'CN=Edge CA',
  notBefore: T0,
  notAfter: T0 + 10 * HOUR,
  keyAlgorithm: 'ec',
  keyBits: 256,
  isCa: false,
  uris: [],
  dnsNames: [`${id}.example.com`],
  ...overrides,
});

/** An imported certificate recorded with its listing facts, as an import records it. */
function imported(id: string, over: Partial<InventoryListingFacts> = {}, owner = ''): InventoryCertificateRecord {
  const f = facts(id, over);
  return {
    fingerprint: id,
    source: 'imported',
    serial: f.serial,
    name: f.dnsNames[0] ?? f.subject,
    subject: f.subject,
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    owner,
    labels: { env: 'prod' },
    status: 'active',
    der: Uint8Array.from([0x30, 0x00]),
    chain: [],
    recordedAt: T0,
    facts: f,
  };
}

/** Lists what the CA issued into the listing, as the inventory's catch-up does (facts made up: no DER parsed). */
async function catchUp(store: Store): Promise<void> {
  const unlisted = await store.unlistedCertificates(100);
  await store.recordInventoryListing(
    unlisted.map((c) => ({
      origin: c.origin,
      ref: c.ref,
      source: c.origin === 'ca' ? 'issued' : c.source,
      kind: c.kind,
      name: c.name,
      facts: facts(`f-${c.ref}`, { serial: c.ref, uris: c.name ? [c.name] : [], dnsNames: [], notAfter: T0 + HOUR }),
    })),
  );
}

/** The inventory listing (migration 11): pages filtered, sorted and counted in SQL, kept in step with every write. */
export async function runInventoryListingContract(
  withStore: (name: string, body: (t: Test, store: Store) => Promise<void>) => Promise<unknown>,
): Promise<void> {
  const page = async (store: Store, q: Partial<InventoryListingQuery>) => {
    const { rows, total } = await store.listInventoryPage({ now: T0, limit: 50, ...q });
    return { ids: rows.map((r) => r.facts.id), total };
  };

  await withStore('listing: filters, sorts, pages and counts in the store', async (t, store) => {
    await store.recordInventory(
      [
        imported('aa', { notAfter: T0 + 3 * HOUR }, 'web'),
        imported('bb', { notAfter: T0 + 1 * HOUR, uris: [API] }),
        imported('cc', { notAfter: T0 + 2 * HOUR, keyAlgorithm: 'rsa', keyBits: 2048 }, 'web'),
      ],
      [],
    );
    const cases: [string, Partial<InventoryListingQuery>, string[]][] = [
      ['all, by notAfter', {}, ['bb', 'cc', 'aa']],
      ['descending', { descending: true }, ['aa', 'cc', 'bb']],
      ['by name', { sort: 'name' }, ['aa', 'bb', 'cc']],
      ['by name, descending', { sort: 'name', descending: true }, ['cc', 'bb', 'aa']],
      ['owner', { owner: 'web' }, ['cc', 'aa']],
      ['label', { labels: { env: 'prod' } }, ['bb', 'cc', 'aa']],
      ['another label value', { labels: { env: 'dev' } }, []],
      ['text, any case', { text: 'cc.example' }, ['cc']],
      ['text in a serial', { text: '5ebb' }, ['bb']],
      ['SPIFFE ID among the URIs', { spiffeId: API }, ['bb']],
      ['SPIFFE ID is matched whole', { spiffeId: `${API}x` }, []],
      ['id or serial', { ref: '5eaa' }, ['aa']],
      ['expiry window', { notAfterAfter: T0 + HOUR, notAfterAtMost: T0 + 2 * HOUR }, ['cc']],
      ['expired at now', { status: 'expired', now: T0 + 2 * HOUR }, ['bb', 'cc']],
      ['active at now', { status: 'active', now: T0 + 2 * HOUR }, ['aa']],
      ['an offset', { offset: 1, limit: 1 }, ['cc']],
    ];
    for (const [name, q, ids] of cases) t.same((await page(store, q)).ids, ids, name);
    t.equal((await page(store, { limit: 1 })).total, 3, 'the total counts every match, not the page');
    const [row] = (await store.listInventoryPage({ now: T0, limit: 1, ref: 'cc', withCertificates: true })).rows;
    t.match(row, { name: 'cc.example.com', owner: 'web', labels: { env: 'prod' }, status: 'active', chain: [] });
    t.same(row?.facts, facts('cc', { notAfter: T0 + 2 * HOUR, keyAlgorithm: 'rsa', keyBits: 2048 }));
    t.same([...(row?.der ?? [])], [0x30, 0x00], 'the certificate comes with the page when asked for');
    t.same(await store.countInventory(T0 + 2 * HOUR), [
      { status: 'active', source: 'imported', count: 1 },
      { status: 'expired', source: 'imported', count: 2 },
    ]);
  });

  await withStore('listing: annotations, renewals, revocations and removals keep it in step', async (t, store) => {
    await store.insertCertificate(cert('01'));
    await store.insertCertificate(cert('02'));
    t.equal(await store.countUnlisted(), 2, 'issued certificates wait for the catch-up');
    await catchUp(store);
    t.equal(await store.countUnlisted(), 0);
    await store.insertCertificate(cert('03'), { supersedes: '01' });
    await catchUp(store);
    await store.revokeCertificates([
      { serial: '02', spiffeId: API, reason: 'keyCompromise', revokedAt: T0, effectiveAt: T0, notAfter: T0 + HOUR },
    ]);
    const statuses = async () =>
      Object.fromEntries(
        (await store.listInventoryPage({ now: T0, limit: 50 })).rows.map((r) => [r.ref, r.status] as const),
      );
    t.same(await statuses(), { '01': 'superseded', '02': 'revoked', '03': 'active' });

    await store.annotateCertificate({ fingerprint: 'f-03', owner: 'api-team', labels: { tier: '1' }, updatedAt: T0 });
    t.same((await page(store, { owner: 'api-team', labels: { tier: '1' } })).ids, ['f-03'], 'labelled after the fact');

    // A later certificate of the same name supersedes an earlier one; removing it brings the earlier one back.
    await store.recordInventory([imported('v1', { notBefore: T0 - 10 * HOUR, notAfter: T0 + 5 * HOUR })], []);
    await store.recordInventory([imported('v2', { dnsNames: ['v1.example.com'], notBefore: T0 })], []);
    t.same((await page(store, { status: 'superseded', source: 'imported' })).ids, ['v1']);
    await store.recordInventory([{ ...imported('v1'), owner: 'edge', labels: { env: 'dev' } }], []);
    t.same((await page(store, { owner: 'edge', labels: { env: 'dev' } })).ids, ['v1'], 'a re-import relabels');
    t.equal(await store.removeInventoryCertificate('v2'), true);
    t.same((await page(store, { status: 'superseded', source: 'imported' })).ids, []);
    t.same((await page(store, { source: 'imported' })).ids, ['v1']);
  });

  await withStore('listing: a scan walks every row once, a batch at a time', async (t, store) => {
    await store.recordInventory(
      ['a1', 'a2', 'a3', 'a4', 'a5'].map((id) => imported(id)),
      [],
    );
    const seen: string[] = [];
    let after: { origin: 'ca' | 'external'; ref: string } | undefined;
    for (;;) {
      const batch = await store.scanInventoryListing(T0, after, 2);
      seen.push(...batch.map((r) => r.ref));
      const last = batch.at(-1);
      if (!last) break;
      after = { origin: last.origin, ref: last.ref };
    }
    t.same(seen, ['a1', 'a2', 'a3', 'a4', 'a5']);
  });
}
