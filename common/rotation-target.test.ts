import t from 'tap';
import { ErrorCode } from './errors.ts';
import { describeRotationTarget, parseRotationTarget, rotationTargetMatches } from './rotation-target.ts';

const TD = 'example.org';

t.test('exactly one target is accepted, in the trust domain', async (t) => {
  t.same(parseRotationTarget({ all: true }, TD), { kind: 'all' });
  t.same(parseRotationTarget({ spiffeId: 'spiffe://example.org/ns/a/sa/b' }, TD), {
    kind: 'spiffe-id',
    spiffeId: 'spiffe://example.org/ns/a/sa/b',
  });
  t.same(parseRotationTarget({ prefix: 'spiffe://example.org/ns/prod/' }, TD), {
    kind: 'prefix',
    prefix: 'spiffe://example.org/ns/prod/',
  });
  t.same(parseRotationTarget({ prefix: 'spiffe://example.org/ns/prod' }, TD), {
    kind: 'prefix',
    prefix: 'spiffe://example.org/ns/prod/',
  });
  const refused: [string, object, string][] = [
    ['none', {}, ErrorCode.INVALID_ARGUMENT],
    ['two', { all: true, prefix: 'spiffe://example.org/ns/' }, ErrorCode.INVALID_ARGUMENT],
    ['foreign domain', { spiffeId: 'spiffe://other.org/ns/a' }, ErrorCode.SPIFFE_ID_TRUST_DOMAIN],
    ['trust domain only', { prefix: 'spiffe://example.org/' }, ErrorCode.SPIFFE_ID_INVALID],
    ['bad segment', { prefix: 'spiffe://example.org/ns/../x/' }, ErrorCode.SPIFFE_ID_INVALID],
  ];
  for (const [name, input, code] of refused) {
    t.throws(() => parseRotationTarget(input, TD), { code }, name);
  }
});

t.test('a prefix matches whole segments only', async (t) => {
  const prod = parseRotationTarget({ prefix: 'spiffe://example.org/ns/prod/' }, TD);
  const cases: [string, boolean][] = [
    ['spiffe://example.org/ns/prod/sa/api', true],
    ['spiffe://example.org/ns/prod', true],
    ['spiffe://example.org/ns/production/sa/api', false],
    ['spiffe://example.org/ns/staging/sa/api', false],
  ];
  for (const [id, want] of cases) t.equal(rotationTargetMatches(prod, id), want, id);
  t.ok(rotationTargetMatches({ kind: 'all' }, 'spiffe://example.org/x'));
  const one = parseRotationTarget({ spiffeId: 'spiffe://example.org/ns/a' }, TD);
  t.ok(rotationTargetMatches(one, 'spiffe://example.org/ns/a'));
  t.notOk(rotationTargetMatches(one, 'spiffe://example.org/ns/a/b'));
  t.equal(describeRotationTarget(prod), 'spiffe://example.org/ns/prod/**');
});
