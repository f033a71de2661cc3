import t from 'tap';
import type { CertificateRecord, RotationOrderRecord } from '../store/store.ts';
import { rotationProgress } from './rotation-progress.ts';

const T0 = Date.UTC(2026, 5, 1);
const HOUR = 3_600_000;
const id = (name: string) => `spiffe://example.org/ns/prod/sa/${name}`;

function cert(spiffeId: string, issuedAt: number, extra: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: `${spiffeId}-${issuedAt}`, spiffeId, kind: 'svid', keyType: 'ec-p256', notBefore: issuedAt - 60_000, notAfter: issuedAt + HOUR,
    issuerSerial: 'ca', status: 'active', issuedAt, publicKeySha256: `${spiffeId}-${issuedAt}`, der: new Uint8Array(), ...extra,
  };
}

const order: RotationOrderRecord = { orderId: 'o', targetKind: 'prefix', target: 'spiffe://example.org/ns/prod/', windowMs: 300_000, reason: 'operator', createdAt: T0 };

t.test('targets, rotated, pending and failed come from the inventory', async (t) => {
  const certs = [
    cert(id('a'), T0 - 1_000),
    cert(id('a'), T0 + 10_000),
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
  t.same(rotationProgress({ ...order, targetKind: 'all', target: '' }, certs, T0, 0).targets, [id('a'), id('b'), 'spiffe://example.org/ns/staging/sa/e']);
});
