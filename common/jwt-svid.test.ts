import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, UnsecuredJWT } from 'jose';
import t from 'tap';
import { ErrorCode } from './errors.ts';
import { type JwtBundleKey, jwtKeysOfBundle, validateJwtSvid } from './jwt-svid.ts';

const TD = 'example.org';
const SUB = `spiffe://${TD}/ns/prod/sa/web`;
const NOW = Date.UTC(2026, 0, 1, 12);
const sec = (ms: number) => Math.floor(ms / 1000);

async function signingKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, kid, bundleKey: { ...jwk, use: 'jwt-svid', kid, alg: 'ES256' } as JwtBundleKey };
}

t.test('JWT-SVID validation refuses each bad case with its reason', async (t) => {
  const ours = await signingKey();
  const foreign = await signingKey();
  const sign = (
    claims: { sub?: string; aud?: string | string[]; exp?: number },
    key = ours,
    header: Record<string, unknown> = {},
  ) => {
    const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT', ...header });
    if (claims.sub !== undefined) jwt.setSubject(claims.sub);
    if (claims.aud !== undefined) jwt.setAudience(claims.aud);
    if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
    return jwt.setIssuedAt(sec(NOW)).sign(key.privateKey);
  };
  const good = { sub: SUB, aud: 'api', exp: sec(NOW) + 300 };
  const expect = { audience: 'api', trustDomain: TD, keys: [ours.bundleKey], now: NOW };

  const ok = await validateJwtSvid(await sign(good), expect);
  t.equal(ok.spiffeId, SUB);
  t.equal(ok.claims['aud'], 'api');
  t.equal(ok.expiresAt, (sec(NOW) + 300) * 1000);
  const multi = await validateJwtSvid(await sign({ ...good, aud: ['other', 'api'] }), expect);
  t.equal(multi.spiffeId, SUB, 'one of several audiences is enough');

  const unsecured = new UnsecuredJWT({})
    .setSubject(SUB)
    .setAudience('api')
    .setExpirationTime(sec(NOW) + 300)
    .encode();
  const cases: { name: string; token: string | Promise<string>; audience?: string; reason: string }[] = [
    { name: 'no audience asked for', token: sign(good), audience: '', reason: 'audience' },
    { name: 'signed by a foreign key', token: sign(good, foreign), reason: 'kid' },
    {
      name: 'a foreign key under our kid',
      token: sign(good, { ...foreign, kid: ours.kid }),
      reason: 'signature',
    },
    { name: 'alg none', token: unsecured, reason: 'alg' },
    { name: 'HMAC', token: `${Buffer.from('{"alg":"HS256","kid":"x"}').toString('base64url')}.e30.AA`, reason: 'alg' },
    { name: 'expired', token: sign({ ...good, exp: sec(NOW) - 1 }), reason: 'expired' },
    { name: 'no exp', token: sign({ sub: SUB, aud: 'api' }), reason: 'malformed' },
    {
      name: 'sub of another trust domain',
      token: sign({ ...good, sub: 'spiffe://other.org/ns/x' }),
      reason: 'subject',
    },
    { name: 'sub not a SPIFFE ID', token: sign({ ...good, sub: 'web' }), reason: 'subject' },
    { name: 'another audience', token: sign({ ...good, aud: 'billing' }), reason: 'audience' },
    { name: 'not a JWS', token: 'not-a-token', reason: 'malformed' },
  ];
  for (const c of cases) {
    await t.rejects(
      validateJwtSvid(await c.token, { ...expect, audience: c.audience ?? 'api' }),
      { code: ErrorCode.JWT_INVALID, details: { reason: c.reason } },
      c.name,
    );
  }
});

t.test('jwtKeysOfBundle keeps only jwt-svid keys with a kid', async (t) => {
  const doc = JSON.stringify({
    keys: [
      { use: 'x509-svid', kty: 'EC', x5c: ['AA'] },
      { use: 'jwt-svid', kty: 'EC', kid: 'k1' },
      { use: 'jwt-svid', kty: 'EC' },
    ],
  });
  t.same(
    jwtKeysOfBundle(doc).map((k) => k.kid),
    ['k1'],
  );
  t.same(jwtKeysOfBundle(''), []);
  t.throws(() => jwtKeysOfBundle('{'), { code: ErrorCode.BUNDLE_INVALID });
});
