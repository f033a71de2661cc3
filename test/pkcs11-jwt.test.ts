import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { FakeClock } from '../common/clock.ts';
import { ErrorCode } from '../common/errors.ts';
import { jwtKeysOfBundle, validateJwtSvid } from '../common/jwt-svid.ts';
import { ActiveCa } from '../control-plane/ca/active-ca.ts';
import { initCa } from '../control-plane/ca/init-ca.ts';
import { loadCa } from '../control-plane/ca/load-ca.ts';
import { JWT_KEYS_FILE, JwtKeySet } from '../control-plane/jwt/jwt-key-set.ts';
import { Pkcs11Tokens } from '../control-plane/keys/pkcs11-tokens.ts';
import { TrustState } from '../control-plane/trust-state.ts';
import { pkcs11Tool, startSoftHsm } from './fixtures/softhsm.ts';
import { silentLogger } from '../common/logger.ts';

// Issue 19, point 2 ("kept like the CA keys: encrypted file or PKCS#11"): a CA whose keys are in a SoftHSM2 token
// generates its JWT-SVID signing keys in the same token, wired as the control plane wires them (ca.json's keyStore
// through the shared Pkcs11Tokens). Tokens it mints validate with jose against the published SPIFFE bundle, through
// a rotation whose next key is made in the token too; keys.json holds references only, and the token's own object
// list shows the JWT private keys sensitive and never extractable.

const TD = 'jwt.hsm.example.org';
const PIN = '24681357';
const SUB = `spiffe://${TD}/ns/prod/sa/api`;

const hsm = await startSoftHsm(t);
const tokenLabel = await hsm.initToken('sigil-jwt', PIN);
const dir = await mkdtemp(join(tmpdir(), 'sigil-pkcs11-jwt-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const dataDir = join(dir, 'data');
const tokens = new Pkcs11Tokens({ pin: PIN });
t.teardown(() => tokens.close());
await initCa({
  dataDir,
  trustDomain: TD,
  keyType: 'ec-p256',
  now: Date.now(),
  keyStore: { kind: 'pkcs11', module: hsm.modulePath, token: { label: tokenLabel }, tokens },
});

const loaded = await loadCa({ dataDir, passphrase: '', tokens });
if (!loaded.keyStore) throw new Error('ca.json names no key store');
const keyStore = loaded.keyStore;
const clock = new FakeClock(Date.now());
const openToken = () => tokens.open(keyStore.module, keyStore.token);
const jwtKeys = new JwtKeySet(
  {
    dataDir,
    passphrase: '',
    trustDomain: TD,
    algorithm: 'ES256',
    ttlMs: 300_000,
    token: openToken,
  },
  { clock, logger: silentLogger() },
);
const trust = new TrustState(new ActiveCa(loaded.ca), { jwtKeys: () => jwtKeys.bundleKeys() });

/** The published bundle, as /bundle.json and FetchTrust serve it. */
const publishedKeys = () => jwtKeysOfBundle(trust.spiffeBundleDocument());

async function verifies(token: string): Promise<boolean> {
  const jwks = createLocalJWKSet({ keys: publishedKeys().map(({ use: _use, ...key }) => key) });
  return jwtVerify(token, jwks, { audience: 'billing', subject: SUB, currentDate: new Date(clock.now()) }).then(
    () => true,
    () => false,
  );
}

async function storedKeys(): Promise<{ kid: string; state: string; pkcs11?: { label: string; id: string } }[]> {
  return JSON.parse(await readFile(join(dataDir, JWT_KEYS_FILE), 'utf8')).keys;
}

async function jwtPrivateKeysOnToken() {
  const token = await tokens.open(keyStore.module, keyStore.token);
  return (await token.listObjects()).filter((o) => o.class === 'private' && o.label.startsWith(`sigil-${TD}-jwt-`));
}

t.test('the first JWT key is made in the token; keys.json holds only its reference', async (t) => {
  t.equal(await jwtKeys.ensure(), true);
  const [stored] = await storedKeys();
  t.match(stored, {
    state: 'active',
    alg: 'ES256',
    pkcs11: { label: new RegExp(`^sigil-${TD}-jwt-`), id: /^[0-9a-f]{32}$/ },
  });
  const text = await readFile(join(dataDir, JWT_KEYS_FILE), 'utf8');
  t.notMatch(text, /PRIVATE KEY|privateKeyPem|"d"\s*:/, 'no key material in keys.json');

  const onToken = await jwtPrivateKeysOnToken();
  t.equal(onToken.length, 1);
  t.match(onToken[0], {
    id: stored?.pkcs11?.id,
    sensitive: true,
    extractable: false,
    alwaysSensitive: true,
    neverExtractable: true,
  });
  // OpenSC's independent view of the same object.
  const listed = await pkcs11Tool(hsm, ['--token-label', tokenLabel, '--login', '--pin', PIN, '--list-objects']);
  t.match(
    listed,
    new RegExp(
      `Private Key Object; EC[\\s\\S]*label:\\s+${onToken[0]?.label}[\\s\\S]*?Access:\\s+sensitive, always sensitive, never extractable`,
    ),
  );
});

t.test('a JWT-SVID signed in the token validates with jose against the published bundle', async (t) => {
  const { token, expiresAt } = await jwtKeys.mint(SUB, ['billing']);
  const [stored] = await storedKeys();
  t.match(decodeProtectedHeader(token), { alg: 'ES256', kid: stored?.kid, typ: 'JWT' });
  t.equal(token.split('.')[2]?.length, 86, 'an ES256 signature is 64 raw bytes (r‖s), not DER');
  t.equal(await verifies(token), true);
  const validated = await validateJwtSvid(token, {
    audience: 'billing',
    trustDomain: TD,
    keys: publishedKeys(),
    now: clock.now(),
  });
  t.match(validated, { spiffeId: SUB, expiresAt });
  // A flipped signature byte fails: the check above could fail.
  const [h, p, s] = token.split('.') as [string, string, string];
  const bad = Buffer.from(s, 'base64url');
  bad[5] = (bad[5] ?? 0) ^ 1;
  t.equal(await verifies(`${h}.${p}.${bad.toString('base64url')}`), false);
  t.equal(await verifies(await (await jwtKeys.mint(SUB, ['other'])).token), false, 'another audience is refused');
});

t.test('rotation makes the next JWT key in the token; tokens validate throughout', async (t) => {
  const before = (await jwtKeys.mint(SUB, ['billing'])).token;
  t.equal(await jwtKeys.prepare(), true);
  t.equal(publishedKeys().length, 2, 'the next key is published before it signs');
  t.equal((await jwtPrivateKeysOnToken()).length, 2, 'the next key was made in the token');
  t.equal(decodeProtectedHeader((await jwtKeys.mint(SUB, ['billing'])).token).kid, publishedKeys()[0]?.kid);
  t.equal(await jwtKeys.activate(), true);
  const after = (await jwtKeys.mint(SUB, ['billing'])).token;
  const next = (await storedKeys()).find((k) => k.state === 'active');
  t.equal(decodeProtectedHeader(after).kid, next?.kid, 'the new token key signs after activation');
  t.equal(await verifies(before), true, 'a token from before still validates');
  t.equal(await verifies(after), true);
  t.equal(await jwtKeys.retire(), true);
  t.equal(await verifies(after), true);
  t.equal(await verifies(before), false, 'retire removes the old key from the bundle');
  for (const key of await storedKeys()) t.ok(key.pkcs11, `${key.kid} is a token reference`);
  for (const key of await jwtPrivateKeysOnToken())
    t.match(key, { sensitive: true, extractable: false, neverExtractable: true });

  // A control plane started again (new JwtKeySet, same files and token) signs with the token key it finds.
  const restarted = new JwtKeySet(
    {
      dataDir,
      passphrase: '',
      trustDomain: TD,
      algorithm: 'ES256',
      ttlMs: 300_000,
      token: openToken,
    },
    { clock, logger: silentLogger() },
  );
  t.equal(await restarted.ensure(), false);
  t.equal(await verifies((await restarted.mint(SUB, ['billing'])).token), true);
});

t.test('a token reference without a token is a clear error, not a software key', async (t) => {
  const noToken = new JwtKeySet(
    { dataDir, passphrase: '', trustDomain: TD, algorithm: 'ES256', ttlMs: 300_000 },
    { clock, logger: silentLogger() },
  );
  await t.rejects(noToken.mint(SUB, ['billing']), { code: ErrorCode.JWT_KEY, message: /in a PKCS#11 token/ });
});

t.test('RS256: an RSA key in the token signs PKCS#1 v1.5 tokens jose validates', async (t) => {
  const rsaDir = join(dir, 'rs256');
  const rsa = new JwtKeySet(
    { dataDir: rsaDir, passphrase: '', trustDomain: TD, algorithm: 'RS256', ttlMs: 300_000, token: openToken },
    { clock, logger: silentLogger() },
  );
  await rsa.ensure();
  const { token } = await rsa.mint(SUB, ['billing']);
  t.match(decodeProtectedHeader(token), { alg: 'RS256' });
  const jwks = createLocalJWKSet({ keys: rsa.bundleKeys().map(({ use: _use, ...key }) => key) });
  const { payload } = await jwtVerify(token, jwks, { audience: 'billing', currentDate: new Date(clock.now()) });
  t.equal(payload.sub, SUB);
  t.notMatch(await readFile(join(rsaDir, JWT_KEYS_FILE), 'utf8'), /PRIVATE KEY/);
});

t.test('a software JWT key from before keeps signing until rotation replaces it with a token key', async (t) => {
  const mixedDir = join(dir, 'mixed');
  const options = { dataDir: mixedDir, passphrase: 'a passphrase', trustDomain: TD, algorithm: 'ES256' as const };
  const before = new JwtKeySet({ ...options, ttlMs: 300_000 }, { clock, logger: silentLogger() });
  await before.ensure();
  const keys = new JwtKeySet({ ...options, ttlMs: 300_000, token: openToken }, { clock, logger: silentLogger() });
  t.equal(await keys.ensure(), false, 'the software key stays the signer');
  const verify = async (token: string) => {
    const jwks = createLocalJWKSet({ keys: keys.bundleKeys().map(({ use: _use, ...key }) => key) });
    return (await jwtVerify(token, jwks, { audience: 'billing', currentDate: new Date(clock.now()) })).payload.sub;
  };
  t.equal(await verify((await keys.mint(SUB, ['billing'])).token), SUB);
  await keys.prepare();
  await keys.activate();
  const stored = JSON.parse(await readFile(join(mixedDir, JWT_KEYS_FILE), 'utf8')).keys;
  t.match(stored, [
    { state: 'previous', privateKeyPem: /ENCRYPTED/ },
    { state: 'active', pkcs11: { id: /^[0-9a-f]+$/ } },
  ]);
  const minted = (await keys.mint(SUB, ['billing'])).token;
  t.equal(decodeProtectedHeader(minted).kid, stored[1].kid);
  t.equal(await verify(minted), SUB);
});
