import t from 'tap';
import { isSigilError, ErrorCode } from './errors.ts';
import { parseSpiffeId, parseTrustDomain, parseWorkloadId } from './spiffe-id.ts';

t.test('accepts IDs that follow the SPIFFE-ID standard, unchanged', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['spiffe://example.org/ns/default/sa/api', 'example.org', '/ns/default/sa/api'],
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://a-b_c.d/Path.With-Mixed_Case', 'a-b_c.d', '/Path.With-Mixed_Case'],
    ['spiffe://example.org/...', 'example.org', '/...'],
  ];
  for (const [text, td, path] of cases) {
    const id = parseSpiffeId(text);
    t.same({ td: id.trustDomain, path: id.path, uri: id.uri }, { td, path, uri: text }, text);
  }
});

t.test('refuses every rule violation and names the rule', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['SPIFFE://example.org/a', /scheme must be lowercase/],
    ['https://example.org/a', /must start with "spiffe:\/\/"/],
    ['spiffe://Example.org/a', /lowercase letters/],
    ['spiffe://example.org:8080/a', /port/],
    ['spiffe://user@example.org/a', /userinfo/],
    ['spiffe:///a', /trust domain is empty/],
    ['spiffe://example.org/a/../b', /"\." and "\.\."/],
    ['spiffe://example.org/./b', /"\." and "\.\."/],
    ['spiffe://example.org/%41', /percent-encoding/],
    ['spiffe://example.org/a/', /trailing "\/"/],
    ['spiffe://example.org//a', /empty path segments/],
    ['spiffe://example.org/a?b=c', /query/],
    ['spiffe://example.org/a#frag', /fragment/],
    ['spiffe://example.org/a b', /may only contain/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255 bytes/],
    [`spiffe://example.org/${'a'.repeat(2048)}`, /longer than 2048 bytes/],
  ];
  for (const [text, rule] of cases) {
    t.throws(
      () => parseSpiffeId(text),
      { code: ErrorCode.SPIFFE_ID_INVALID, message: rule },
      JSON.stringify(text).slice(0, 60),
    );
  }
});

t.test('workload IDs need a path and the right trust domain', async (t) => {
  t.equal(parseWorkloadId('spiffe://example.org/a', 'example.org').path, '/a');
  t.throws(() => parseWorkloadId('spiffe://example.org', 'example.org'), {
    code: ErrorCode.SPIFFE_ID_INVALID,
    message: /needs a path/,
  });
  try {
    parseWorkloadId('spiffe://other.org/a', 'example.org');
    t.fail('accepted another trust domain');
  } catch (err) {
    t.ok(isSigilError(err, ErrorCode.SPIFFE_ID_TRUST_DOMAIN));
  }
});

t.test('bare trust domains', async (t) => {
  t.equal(parseTrustDomain('example.org'), 'example.org');
  t.throws(() => parseTrustDomain('Example.org'), { code: ErrorCode.SPIFFE_ID_INVALID });
  t.throws(() => parseTrustDomain('example.org:443'), { code: ErrorCode.SPIFFE_ID_INVALID });
  // Issue 20: a SPIFFE ID given as a trust domain was refused with "a port is not allowed".
  t.throws(() => parseTrustDomain('spiffe://example.org'), {
    code: ErrorCode.SPIFFE_ID_INVALID,
    message: /without the spiffe:\/\/ scheme, e\.g\. example\.org/,
  });
});
