import type { Test } from 'tap';
import type { AuditRecord, SidecarContact, Store } from './store.ts';

const T0 = Date.UTC(2026, 0, 1);
const ADMIN = 'spiffe://example.org/sigil/admin/default';
const OPS = 'spiffe://example.org/sigil/admin/ops';
const API = 'spiffe://example.org/ns/prod/sa/api';

const entry = (at: number, actor: string, action = 'revoke'): Omit<AuditRecord, 'entryId'> => ({
  at,
  actor,
  action,
  target: API,
  result: 'ok',
  requestId: `req-${at}`,
  detail: '',
});

const contact = (overrides: Partial<SidecarContact> = {}): SidecarContact => ({
  instanceId: 'i-1',
  spiffeId: API,
  at: T0,
  kind: 'renewal',
  sidecarVersion: '0.1.0',
  svidSerial: 'aa01',
  svidNotAfter: T0 + 3_600_000,
  ...overrides,
});

/** The audit log, admin identities and sidecar contacts (migration 10), for runStoreContract. */
export async function runAuditFleetContract(
  withStore: (name: string, body: (t: Test, store: Store) => Promise<void>) => Promise<unknown>,
): Promise<void> {
  await withStore('audit entries get growing ids and list by time, actor and cursor', async (t, store) => {
    const first = await store.appendAudit(entry(T0, ADMIN));
    const second = await store.appendAudit(entry(T0 + 10, OPS, 'policy.apply'));
    const third = await store.appendAudit({ ...entry(T0 + 20, ADMIN), result: 'refused', detail: 'E: no' });
    t.ok(first.entryId < second.entryId && second.entryId < third.entryId, 'ids grow');
    t.same(await store.listAudit({ limit: 10 }), [first, second, third], 'every field round-trips, oldest first');
    t.same(
      (await store.listAudit({ limit: 10, since: T0 + 10 })).map((e) => e.entryId),
      [second.entryId, third.entryId],
    );
    t.same(
      (await store.listAudit({ limit: 10, actor: ADMIN })).map((e) => e.entryId),
      [first.entryId, third.entryId],
    );
    t.same(
      (await store.listAudit({ limit: 1, afterId: first.entryId })).map((e) => e.entryId),
      [second.entryId],
      'a page after the cursor',
    );
  });

  await withStore('concurrent audit appends all land with distinct ids', async (t, store) => {
    const written = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAudit(entry(T0 + i, ADMIN))));
    t.equal(new Set(written.map((e) => e.entryId)).size, 20);
    t.equal((await store.listAudit({ limit: 100 })).length, 20);
  });

  await withStore('retention prunes only entries older than the bound', async (t, store) => {
    await store.appendAudit(entry(T0, ADMIN));
    await store.appendAudit(entry(T0 + 100, ADMIN));
    t.equal(await store.pruneAudit(T0 + 100), 1);
    t.same(
      (await store.listAudit({ limit: 10 })).map((e) => e.at),
      [T0 + 100],
    );
    const next = await store.appendAudit(entry(T0 + 200, ADMIN));
    t.ok(next.entryId > 2, 'ids never go back after a prune');
  });

  await withStore('admin identities: unique names, revocation kept once', async (t, store) => {
    const ops = { name: 'ops', spiffeId: OPS, serial: 'bb01', createdAt: T0, createdBy: ADMIN };
    t.equal(await store.insertAdminIdentity(ops), true);
    t.equal(await store.insertAdminIdentity({ ...ops, serial: 'bb02' }), false, 'name taken');
    t.same(await store.getAdminIdentity('ops'), ops);
    t.equal(await store.getAdminIdentity('none'), undefined);
    const revoked = await store.markAdminIdentityRevoked('ops', T0 + 5, ADMIN);
    t.same(revoked, { ...ops, revokedAt: T0 + 5, revokedBy: ADMIN });
    await store.markAdminIdentityRevoked('ops', T0 + 9, OPS);
    t.equal((await store.getAdminIdentity('ops'))?.revokedAt, T0 + 5, 'first revocation kept');
    t.equal(await store.markAdminIdentityRevoked('none', T0, ADMIN), undefined);
    await store.insertAdminIdentity({ ...ops, name: 'audit', spiffeId: `${OPS}2` });
    t.same(
      (await store.listAdminIdentities()).map((a) => a.name),
      ['audit', 'ops'],
    );
  });

  await withStore('sidecar contacts: an upsert keeps what a contact does not say', async (t, store) => {
    await store.recordSidecarContact(contact());
    await store.recordSidecarContact(
      contact({ kind: 'trust-fetch', at: T0 + 60_000, bundleSequence: 3, crlNumber: 7, policyVersion: 2 }),
    );
    await store.recordSidecarContact(
      contact({ kind: 'renewal', at: T0 + 120_000, svidSerial: 'aa02', sidecarVersion: '' }),
    );
    const [row] = await store.listSidecarContacts();
    t.same(row, {
      instanceId: 'i-1',
      spiffeId: API,
      sidecarVersion: '0.1.0',
      svidSerial: 'aa02',
      svidNotAfter: T0 + 3_600_000,
      firstSeen: T0,
      lastTrustFetchAt: T0 + 60_000,
      lastRenewalAt: T0 + 120_000,
      bundleSequence: 3,
      crlNumber: 7,
      policyVersion: 2,
    });
    t.equal((await store.findSidecarBySerial('aa02'))?.instanceId, 'i-1');
    t.equal(await store.findSidecarBySerial('aa01'), undefined);
  });

  await withStore('sidecar contacts list by SPIFFE ID and are forgotten when silent', async (t, store) => {
    await store.recordSidecarContact(contact({ instanceId: 'z', spiffeId: `${API}2`, at: T0 + 1000 }));
    await store.recordSidecarContact(contact({ instanceId: 'b', at: T0 }));
    await store.recordSidecarContact(contact({ instanceId: 'a', at: T0 + 2000 }));
    t.same(
      (await store.listSidecarContacts()).map((c) => c.instanceId),
      ['a', 'b', 'z'],
    );
    const old = (await store.listSidecarContacts()).find((c) => c.instanceId === 'b');
    t.equal(old?.bundleSequence, null, 'versions not reported stay null');
    t.equal(await store.pruneSidecarContacts(T0 + 1500), 2);
    t.same(
      (await store.listSidecarContacts()).map((c) => c.instanceId),
      ['a'],
    );
  });
}
