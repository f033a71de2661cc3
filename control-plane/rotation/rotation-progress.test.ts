import t from 'tap';
import type { CertificateRecord, RotationOrderRecord } from '../store/store.ts';
import { rotationProgress } from './rotation-progress.ts';

const T0 = Date.UTC(2026, 5, 1);
const HOUR = 3_600_000;
const id = (name: string) => `spiffe://example.org/ns/prod/sa/${name}`;

function cert(spiffeId: string, issuedAt: number, extra: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: `${spiffeId}-${issuedAt}`,
    spiffeId,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: issuedAt - 60_000,
    notAfter: issuedAt + HOUR,
    issuerSerial: 'ca',
    status: 'active',
    issuedAt,
    publicKeySha256: `${spiffeId}-${issuedAt}`,
    der: new Uint8Array(),
    supersededBy: null,
    ...extra,
  };
}

/** The certificate a renewal at `at` gave, and the old one marked as replaced by it. */
function renewed(old: CertificateRecord, at: number): [CertificateRecord, CertificateRecord] {
  const next = cert(old.spiffeId, at);
  return [{ ...old, supersededBy: next.serial }, next];
}

const order: RotationOrderRecord = {
  orderId: 'o',
  targetKind: 'prefix',
  target: 'spiffe://example.org/ns/prod/',
  windowMs: 300_000,
  reason: 'operator',
  createdAt: T0,
};

t.test('targets, rotated, pending and failed come from the inventory', async (t) => {
  const certs = [
    ...renewed(cert(id('a'), T0 - 1_000), T0 + 10_000),
    cert(id('b'), T0 - 1_000),
    cert(id('c'), T0 - 2 * HOUR),
    cert(id('d'), T0 - 1_000, { status: 'revoked' }),
    cert('spiffe://example.org/ns/staging/sa/e', T0 - 1_000),
    cert(id('cp'), T0 - 1_000, { kind: 'control-plane' }),
    cert(id('late'), T0 + 5_000),
  ];
  const during = rotationProgress(order, certs, T0 + 60_000, 60_000);
  t.same(during, { targets: [id('a'), id('b')], rotated: [id('a')], pending: [id('b')], failed: [] });
  t.same(rotationProgress(order, certs, T0 + 300_000 + 59_999, 60_000).pending, [id('b')], 'grace still running');
  const after = rotationProgress(order, certs, T0 + 360_000, 60_000);
  t.same(after, { targets: [id('a'), id('b')], rotated: [id('a')], pending: [], failed: [id('b')] });
  t.same(rotationProgress({ ...order, targetKind: 'spiffe-id', target: id('b') }, certs, T0, 0).targets, [id('b')]);
  t.same(rotationProgress({ ...order, targetKind: 'all', target: '' }, certs, T0, 0).targets, [
    id('a'),
    id('b'),
    'spiffe://example.org/ns/staging/sa/e',
  ]);
});

t.test('replicas sharing an identity each need their own renewal; a vanished one does not block', async (t) => {
  const [oldOne, newOne] = renewed(cert(id('r'), T0 - 1_000, { serial: 'r1' }), T0 + 5_000);
  const other = cert(id('r'), T0 - 2_000, { serial: 'r2' });
  t.same(
    rotationProgress(order, [oldOne, newOne, other], T0 + 60_000, 60_000).pending,
    [id('r')],
    'one replica renewed, the other not: pending',
  );
  const [otherOld, otherNew] = renewed(other, T0 + 7_000);
  t.same(
    rotationProgress(order, [oldOne, newOne, otherOld, otherNew], T0 + 60_000, 60_000).rotated,
    [id('r')],
    'both renewed: rotated',
  );
  const gone = cert(id('r'), T0 - HOUR + 30_000, { serial: 'r3' });
  t.same(
    rotationProgress(order, [oldOne, newOne, gone], T0 + 60_000, 60_000).rotated,
    [id('r')],
    'a replica whose certificate expired unrenewed is gone, not pending',
  );
  const beforeOrder = renewed(cert(id('s'), T0 - 5_000), T0 - 1_000);
  const progress = rotationProgress(order, beforeOrder, T0 + 60_000, 60_000);
  t.same(progress.pending, [id('s')], 'a renewal before the order does not count');
  t.same(progress.targets, [id('s')], 'one instance: the certificate replaced before the order is not another one');
});

t.test('an instance that re-attested instead of renewing is an orphan, not pending (issue 20)', async (t) => {
  // Attested 40 minutes before the order: due to renew 36 minutes (+1) into its hour, it never did; the same
  // identity attested again after the order (its state directory was lost), so nothing links the two.
  const old = cert(id('x'), T0 - 40 * 60_000, { serial: 'x-old' });
  const reattested = cert(id('x'), T0 + 10_000, { serial: 'x-new' });
  const progress = rotationProgress(order, [old, reattested], T0 + 60_000, 60_000);
  t.same(progress, { targets: [id('x')], rotated: [id('x')], pending: [], failed: [] });
  const silentOnly = rotationProgress(order, [old], T0 + 60_000, 60_000);
  t.same(silentOnly.pending, [id('x')], 'silent and nothing newer: not rotated, still pending in the window');
  const fresh = cert(id('y'), T0 - 1_000, { serial: 'y-old' });
  t.same(
    rotationProgress(order, [fresh, cert(id('y'), T0 + 10_000, { serial: 'y-new' })], T0 + 60_000, 60_000).pending,
    [id('y')],
    'a live instance inside its renewal time is still waited for, whatever else attested',
  );
});
