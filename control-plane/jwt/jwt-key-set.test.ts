import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { validateJwtSvid } from '../../common/jwt-svid.ts';
import { silentLogger } from '../../common/logger.ts';
import { JWT_KEYS_FILE, type JwtAlgorithm, JwtKeySet } from './jwt-key-set.ts';

const TD = 'example.org';
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const PASSPHRASE = 'test-only-passphrase';

async function keySet(t: Test, algorithm: JwtAlgorithm = 'ES256') {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-jwt-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const make = () =>
    new JwtKeySet(
      { dataDir, passphrase: PASSPHRASE, trustDomain: TD, algorithm, ttlMs: 300_000 },
      { clock, logger: silentLogger() },
    );
  return { dataDir, clock, keys: make(), make };
}

t.test('the first key: created once, encrypted at rest, 0600', async (t) => {
  const { dataDir, keys, make } = await keySet(t);
  t.equal(await keys.ensure(), true);
  t.equal(await keys.ensure(), false, 'a second start keeps the key');
  const path = join(dataDir, JWT_KEYS_FILE);
  t.equal((await stat(path)).mode & 0o777, 0o600);
  const text = await readFile(path, 'utf8');
  t.match(text, /ENCRYPTED PRIVATE KEY/);
  t.notMatch(text, /BEGIN PRIVATE KEY/, 'no plain key on disk');
  t.notMatch(text, /"d":/, 'no private JWK member');
  const other = make();
  t.equal(await other.ensure(), false, 'another instance (a replica after a pull) finds it');
  t.same(
    other.bundleKeys().map((k) => k.kid),
    keys.bundleKeys().map((k) => k.kid),
  );
});

t.test('mint: sub, aud, exp of 5 minutes, iat, kid; bad audiences refused', async (t) => {
  for (const algorithm of ['ES256', 'RS256'] as const) {
    const { clock, keys } = await keySet(t, algorithm);
    await keys.ensure();
    const minted = await keys.mint(WEB, ['api']);
    t.equal(minted.expiresAt, Math.floor(clock.now() / 1000) * 1000 + 300_000);
    const [header] = minted.token.split('.');
    const parsed = JSON.parse(Buffer.from(header as string, 'base64url').toString());
    t.match(parsed, { alg: algorithm, kid: keys.bundleKeys()[0]?.kid, typ: 'JWT' });
    const v = await validateJwtSvid(minted.token, {
      audience: 'api',
      trustDomain: TD,
      keys: keys.bundleKeys(),
      now: clock.now(),
    });
    t.equal(v.spiffeId, WEB);
    t.equal(v.claims['iat'], Math.floor(clock.now() / 1000));
    await t.rejects(keys.mint(WEB, []), { code: ErrorCode.INVALID_ARGUMENT }, 'no audience');
    await t.rejects(keys.mint(WEB, ['']), { code: ErrorCode.INVALID_ARGUMENT }, 'an empty audience');
    await t.rejects(keys.mint('spiffe://other.org/x', ['api']), 'another trust domain');
  }
});

t.test('rotation through prepare, activate, retire: tokens before and after validate throughout', async (t) => {
  const { clock, keys } = await keySet(t);
  await keys.ensure();
  const validates = async (token: string) => {
    try {
      await validateJwtSvid(token, { audience: 'api', trustDomain: TD, keys: keys.bundleKeys(), now: clock.now() });
      return true;
    } catch {
      return false;
    }
  };
  const kid = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).kid as string;
  const before = (await keys.mint(WEB, ['api'])).token;
  const oldKid = kid(before);

  t.equal(await keys.prepare(), true);
  t.equal(keys.bundleKeys().length, 2, 'the next key is published before it signs');
  const prepared = (await keys.mint(WEB, ['api'])).token;
  t.equal(kid(prepared), oldKid, 'the old key still signs after prepare');
  t.ok((await validates(before)) && (await validates(prepared)));

  clock.advance(60_000);
  t.equal(await keys.activate(), true);
  const after = (await keys.mint(WEB, ['api'])).token;
  t.not(kid(after), oldKid, 'the new key signs after activate');
  t.equal(keys.bundleKeys().length, 2, 'the old key stays published until retire');
  t.ok((await validates(before)) && (await validates(prepared)) && (await validates(after)), 'all validate');

  t.equal(await keys.retire(), true);
  t.same(
    keys.bundleKeys().map((k) => k.kid),
    [kid(after)],
  );
  t.equal(await validates(after), true, 'tokens of the new key validate');
  t.equal(await validates(before), false, 'tokens of the retired key no longer do');
  t.equal(await keys.retire(), false, 'retire again changes nothing');
  t.equal(await keys.activate(), false, 'activate without a prepared key changes nothing');
});
