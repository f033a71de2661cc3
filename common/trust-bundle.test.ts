import t from 'tap';
import { ErrorCode, isSigilError } from './errors.ts';
import { TrustBundle, pemCertificatesToDer } from './trust-bundle.ts';
import { makeCert, makeTestPki } from '../test/fixtures/cert-factory.ts';

const TD = 'example.org';
const ec = await makeTestPki(TD);
const rsa = await makeTestPki(TD, { keyType: 'rsa-2048' });
const p384 = await makeTestPki(TD, { keyType: 'ec-p384' });

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSigilError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

t.test('PEM round trip keeps the roots and canonicalises the text', async (t) => {
  const messy = `subject=CN=root\n${ec.root.pem.replace(/\n/g, '\r\n')}\n# comment\n${rsa.root.pem}`;
  const b = TrustBundle.fromPem(TD, messy, 3, 300);
  t.equal(b.roots.length, 2);
  t.equal(b.toPem(), ec.root.pem + rsa.root.pem);
  t.equal(b.sequence, 3);
  t.equal(b.refreshHintSeconds, 300);
  t.ok(TrustBundle.fromPem(TD, b.toPem(), 3, 300).equals(b));
  t.ok(Object.isFrozen(b));
});

t.test('PEM -> JWKS -> PEM round trip for EC P-256, P-384 and RSA roots', async (t) => {
  const b = TrustBundle.fromPem(TD, ec.root.pem + p384.root.pem + rsa.root.pem, 7, 60);
  const jwks = b.toJwks();
  t.equal(jwks.spiffe_sequence, 7);
  t.equal(jwks.spiffe_refresh_hint, 60);
  t.match(jwks.keys[0], { use: 'x509-svid', kty: 'EC', crv: 'P-256', x: String, y: String });
  t.match(jwks.keys[1], { use: 'x509-svid', kty: 'EC', crv: 'P-384' });
  t.match(jwks.keys[2], { use: 'x509-svid', kty: 'RSA', n: String, e: 'AQAB' });
  t.equal(jwks.keys[0]?.x5c?.[0], Buffer.from(ec.root.der).toString('base64'));
  const back = TrustBundle.fromJwks(TD, JSON.stringify(jwks));
  t.ok(back.equals(b));
  t.equal(back.toPem(), b.toPem());
});

t.test('fromJwks ignores jwt-svid keys and defaults sequence to 0', async (t) => {
  const jwks = TrustBundle.fromPem(TD, ec.root.pem, 1).toJwks();
  const doc = { keys: [{ use: 'jwt-svid', kty: 'EC', crv: 'P-256', kid: 'k', x: 'a', y: 'b' }, ...jwks.keys] };
  const b = TrustBundle.fromJwks(TD, doc);
  t.equal(b.roots.length, 1);
  t.equal(b.sequence, 0);
  t.equal(b.refreshHintSeconds, undefined);
});

t.test('equality is by content', async (t) => {
  const a = TrustBundle.fromPem(TD, ec.root.pem + rsa.root.pem, 1);
  const reordered = TrustBundle.fromPem(TD, rsa.root.pem + ec.root.pem + ec.root.pem, 1);
  t.equal(reordered.roots.length, 2, 'duplicates removed');
  t.ok(a.equals(reordered));
  t.notOk(a.equals(TrustBundle.fromPem(TD, ec.root.pem + rsa.root.pem, 2)), 'sequence differs');
  t.ok(a.hasSameRoots(TrustBundle.fromPem(TD, ec.root.pem + rsa.root.pem, 2)));
  t.notOk(a.equals(TrustBundle.fromPem(TD, ec.root.pem, 1)));
  t.notOk(a.equals(TrustBundle.fromPem('other.org', ec.root.pem + rsa.root.pem, 1)));
});

t.test('bad bundles are BUNDLE_INVALID', async (t) => {
  const leaf = await ec.issueSvid('spiffe://example.org/a');
  const noSign = await makeCert({ isCa: true, keyUsage: ['cRLSign'] });
  const jwks = TrustBundle.fromPem(TD, ec.root.pem, 1).toJwks();
  const key0 = jwks.keys[0] ?? {};
  const cases: Array<[string, () => unknown]> = [
    ['empty text', () => TrustBundle.fromPem(TD, '', 1)],
    ['garbage text', () => TrustBundle.fromPem(TD, 'hello world', 1)],
    ['bad base64', () => TrustBundle.fromPem(TD, '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n', 1)],
    [
      'not a certificate',
      () => TrustBundle.fromPem(TD, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 1),
    ],
    ['a private key', () => TrustBundle.fromPem(TD, ec.root.pem + ec.root.key.keyPem, 1)],
    ['a leaf', () => TrustBundle.fromPem(TD, leaf.pem, 1)],
    ['a CA without keyCertSign', () => TrustBundle.fromPem(TD, noSign.pem, 1)],
    ['negative sequence', () => TrustBundle.fromPem(TD, ec.root.pem, -1)],
    ['zero refresh hint', () => TrustBundle.fromPem(TD, ec.root.pem, 1, 0)],
    ['JSON garbage', () => TrustBundle.fromJwks(TD, '{nope')],
    ['JSON without keys', () => TrustBundle.fromJwks(TD, '{}')],
    ['JWKS with no x509-svid keys', () => TrustBundle.fromJwks(TD, { keys: [] })],
    [
      'x5c with two certificates',
      () => TrustBundle.fromJwks(TD, { keys: [{ ...key0, x5c: [...(key0.x5c ?? []), ...(key0.x5c ?? [])] }] }),
    ],
    ['x coordinate not matching x5c', () => TrustBundle.fromJwks(TD, { keys: [{ ...key0, x: 'AAAA' }] })],
    ['string sequence', () => TrustBundle.fromJwks(TD, { ...jwks, spiffe_sequence: '1' })],
  ];
  for (const [name, fn] of cases) t.equal(code(fn), ErrorCode.BUNDLE_INVALID, name);
  t.equal(
    code(() => TrustBundle.fromPem('Bad TD', ec.root.pem, 1)),
    ErrorCode.SPIFFE_ID_INVALID,
    'bad trust domain',
  );
});

t.test('pemCertificatesToDer returns every certificate of a chain', async (t) => {
  const svid = await ec.issueSvid('spiffe://example.org/a');
  const ders = pemCertificatesToDer(svid.chainPem);
  t.equal(ders.length, 2);
  t.same(Buffer.from(ders[1] ?? []), Buffer.from(ec.intermediate.der));
});
