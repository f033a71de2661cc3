import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import type { JwtBundleKey } from '../../common/jwt-bundle.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import { JwtSvidCache } from './jwt-svid-cache.ts';

const TD = 'example.org';
const ID = `spiffe://${TD}/ns/prod/sa/web`;
const TTL_S = 300;

async function signer() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, kid, bundleKey: { ...jwk, use: 'jwt-svid', kid } as JwtBundleKey };
}

async function harness() {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const ours = await signer();
  const mints: string[][] = [];
  let signWith = ours;
  const proxy = { spiffeId: ID } as TlsMaterial;
  const cache = new JwtSvidCache({
    api: {
      mintJwtSvid: async (_current, audience) => {
        mints.push([...audience]);
        const iat = Math.floor(clock.now() / 1000);
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: signWith.kid })
          .setSubject(ID)
          .setAudience([...audience])
          .setIssuedAt(iat)
          .setExpirationTime(iat + TTL_S)
          .sign(signWith.privateKey);
        return { token, expiresAt: (iat + TTL_S) * 1000 };
      },
    },
    proxy: () => proxy,
    keys: () => [ours.bundleKey],
    trustDomain: TD,
    clock,
    maxEntries: 2,
  });
  return { clock, cache, mints, useForeignKey: async () => void (signWith = await signer()) };
}

t.test('one token per audience set, kept until half its lifetime', async (t) => {
  const { clock, cache, mints } = await harness();
  const first = await cache.fetch(['b', 'a']);
  t.equal(await cache.fetch(['a', 'b', 'a']), first, 'the same set in another order or with repeats: cached');
  clock.advance((TTL_S / 2) * 1000 - 1);
  t.equal(await cache.fetch(['a', 'b']), first, 'still cached just before half life');
  clock.advance(1);
  t.not(await cache.fetch(['a', 'b']), first, 'minted again at half life');
  t.equal(mints.length, 2);
});

t.test('concurrent requests share one mint; the oldest entry goes past the bound', async (t) => {
  const { cache, mints } = await harness();
  const [x, y] = await Promise.all([cache.fetch(['a']), cache.fetch(['a'])]);
  t.equal(x, y);
  t.equal(mints.length, 1);
  await cache.fetch(['b']);
  await cache.fetch(['c']);
  await cache.fetch(['a']);
  t.equal(mints.length, 4, 'a was evicted by b and c (bound 2)');
});

t.test('a minted token that does not validate against the JWT bundle is not handed out', async (t) => {
  const { cache, useForeignKey } = await harness();
  await useForeignKey();
  await t.rejects(cache.fetch(['a']), { code: ErrorCode.JWT_INVALID, details: { reason: 'kid' } });
});
