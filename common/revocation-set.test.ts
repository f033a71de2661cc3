import t from 'tap';
import { normalizeSerial, RevocationSet } from './revocation-set.ts';

t.test('serials compare as hex integers', async (t) => {
  const cases: Array<[string, string]> = [
    ['0A1B', 'a1b'],
    ['00:0a:1b', 'a1b'],
    ['3F9A', '3f9a'],
    ['0', '0'],
    ['00', '0'],
  ];
  for (const [input, want] of cases) t.equal(normalizeSerial(input), want, input);
});

t.test('lookups by serial (any spelling) and by identity', async (t) => {
  const set = new RevocationSet({ crlNumber: 3, serials: ['0AbC'], spiffeIds: ['spiffe://td/ns/a'] });
  t.ok(set.isRevoked('ABC', 'spiffe://td/ns/x'), 'serial, uppercase');
  t.ok(set.isRevoked('00abc', 'spiffe://td/ns/x'), 'serial with leading zeros');
  t.ok(set.isRevoked('1234', 'spiffe://td/ns/a'), 'identity');
  t.notOk(set.isRevoked('1234', 'spiffe://td/ns/ab'), 'identity matches exactly, not by prefix');
  t.same(set.size, { serials: 1, spiffeIds: 1 });
});

t.test('deltas apply in order; gaps and repeats are reported, not applied', async (t) => {
  const set = new RevocationSet({ crlNumber: 3, serials: ['aa'], spiffeIds: ['spiffe://td/ns/a'] });
  const next = set.apply({
    crlNumber: 4,
    revokedSerials: ['bb'],
    revokedSpiffeIds: ['spiffe://td/ns/b'],
    unrevokedSpiffeIds: ['spiffe://td/ns/a'],
  });
  if (typeof next === 'string') return t.fail(next);
  t.equal(next.crlNumber, 4);
  t.ok(next.isRevoked('bb', 'x'));
  t.ok(next.isRevoked('aa', 'x'), 'earlier serials stay');
  t.ok(next.isIdentityRevoked('spiffe://td/ns/b'));
  t.notOk(next.isIdentityRevoked('spiffe://td/ns/a'), 'unrevoked');
  t.notOk(set.isRevoked('bb', 'x'), 'the old set is unchanged');
  t.equal(next.apply({ crlNumber: 6, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }), 'gap');
  t.equal(next.apply({ crlNumber: 4, revokedSerials: ['cc'], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }), 'stale');
});
