import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import type { CertificateRecord } from '../store/store.ts';
import {
  assertRevocable,
  crlRefreshAt,
  effectiveTime,
  parseSerial,
  protectionOfCertificate,
  protectionOfIdentity,
  serialCandidates,
} from './revocation-rules.ts';

const TD = 'example.org';
const NOW = Date.UTC(2026, 0, 1);

t.test('parseSerial accepts operator spellings and refuses the rest', async (t) => {
  const ok: [string, string][] = [
    ['0a1b', '0a1b'],
    ['0A:1B', '0a1b'],
    [' 0a 1b ', '0a1b'],
    ['f'.repeat(64), 'f'.repeat(64)],
  ];
  for (const [input, want] of ok) t.equal(parseSerial(input), want, JSON.stringify(input));
  for (const bad of ['', 'xyz', '0x0a', '-1', 'a'.repeat(65), '0a;1b'])
    t.throws(() => parseSerial(bad), { code: ErrorCode.INVALID_ARGUMENT }, JSON.stringify(bad));
});

t.test('serialCandidates covers leading-zero spellings', async (t) => {
  t.same(serialCandidates('00ab'), ['00ab', 'ab', '0ab']);
  t.same(serialCandidates('ab'), ['ab', '0ab', '00ab']);
  t.same(serialCandidates('0'), ['0', '00', '000']);
});

t.test('effectiveTime: now by default, the past kept, the future refused beyond skew', async (t) => {
  const cases: [string, number | undefined, number | string][] = [
    ['absent', undefined, NOW],
    ['zero', 0, NOW],
    ['past', NOW - 5000, NOW - 5000],
    ['within skew is clamped to now', NOW + 30_000, NOW],
    ['beyond skew', NOW + 61_000, ErrorCode.INVALID_ARGUMENT],
    ['negative', -5, ErrorCode.INVALID_ARGUMENT],
    ['fractional', 1.5, ErrorCode.INVALID_ARGUMENT],
  ];
  for (const [name, input, want] of cases) {
    if (typeof want === 'number') t.equal(effectiveTime(input, NOW), want, name);
    else t.throws(() => effectiveTime(input, NOW), { code: want }, name);
  }
});

t.test('protection: CA certificates, the control plane and admins', async (t) => {
  const rec = (kind: CertificateRecord['kind'], spiffeId: string) => ({ kind, spiffeId }) as CertificateRecord;
  const cases: [string, CertificateRecord, string | undefined][] = [
    ['root', rec('root', `spiffe://${TD}`), 'ca'],
    ['intermediate', rec('intermediate', `spiffe://${TD}`), 'ca'],
    ['control plane kind', rec('control-plane', `spiffe://${TD}/sigil/control-plane`), 'control-plane'],
    ['admin kind', rec('admin', `spiffe://${TD}/sigil/admin/ops`), 'admin'],
    ['svid with an admin ID', rec('svid', `spiffe://${TD}/sigil/admin/ops`), 'admin'],
    ['workload', rec('svid', `spiffe://${TD}/ns/prod/sa/api`), undefined],
    ['deeper admin path is a workload', rec('svid', `spiffe://${TD}/sigil/admin/ops/x`), undefined],
  ];
  for (const [name, record, want] of cases) t.equal(protectionOfCertificate(record, TD), want, name);
  t.equal(protectionOfIdentity('not an id', TD), undefined);
});

t.test('assertRevocable: CA never; control plane and admin only with force', async (t) => {
  t.throws(() => assertRevocable('ca', 'x', true), { code: ErrorCode.REVOKE_PROTECTED });
  for (const p of ['control-plane', 'admin'] as const) {
    t.throws(() => assertRevocable(p, 'x', false), { code: ErrorCode.REVOKE_PROTECTED }, `${p} without force`);
    t.doesNotThrow(() => assertRevocable(p, 'x', true), `${p} with force`);
  }
  t.doesNotThrow(() => assertRevocable(undefined, 'x', false));
});

t.test('crlRefreshAt is 3/4 into the validity', async (t) => {
  t.equal(crlRefreshAt(NOW), NOW + 18 * 3_600_000);
  t.equal(crlRefreshAt(NOW, 1000), NOW + 750);
});
