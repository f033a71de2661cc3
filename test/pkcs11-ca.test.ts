import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPair, importPublicKey } from '../common/key-pair.ts';
import { activateCaFiles, prepareCaFiles, retireCaFiles } from '../control-plane/ca/ca-rotation-files.ts';
import { certificatePem } from '../control-plane/ca/issued-certificate.ts';
import { initCa } from '../control-plane/ca/init-ca.ts';
import { loadCa } from '../control-plane/ca/load-ca.ts';
import { Pkcs11Tokens } from '../control-plane/keys/pkcs11-tokens.ts';
import { signDigest } from '../control-plane/signing/sign-artifact.ts';
import { pkcs11Tool, startSoftHsm } from './fixtures/softhsm.ts';

// Issue 16, "done when": a CA whose root and intermediate keys are generated in a SoftHSM2 token, SVIDs and CRLs
// signed through it and checked by openssl, a rotation with the new keys in the token too, a code-signing signature
// made with a token key verified by `openssl cms`, and the token's own object list showing that every private key is
// sensitive and was never extractable — while no CA key file exists on disk.

const run = promisify(execFile);
const TD = 'hsm.example.org';
const PIN = '13572468';

async function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('openssl', args).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

const hsm = await startSoftHsm(t);
const tokenLabel = await hsm.initToken('sigil-ca', PIN);
// SoftHSM2 lists the tokens that exist when the library is initialised: the offline root's is made up front.
const rootLabel = await hsm.initToken('sigil-offline-root', PIN);
const dir = await mkdtemp(join(tmpdir(), 'sigil-pkcs11-ca-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const dataDir = join(dir, 'data');
const tokens = new Pkcs11Tokens({ pin: PIN });
t.teardown(() => tokens.close());
const keyStore = { kind: 'pkcs11' as const, module: hsm.modulePath, token: { label: tokenLabel } };

/** Issues an SVID through the loaded CA and has openssl verify it against the bundle on disk. */
async function issueAndVerify(t: Test, name: string): Promise<void> {
  const { ca } = await loadCa({ dataDir, passphrase: '', tokens });
  const keys = await generateKeyPair('ec-p256');
  const leaf = await ca.issueLeaf({
    spiffeId: `spiffe://${TD}/ns/prod/sa/${name}`,
    publicKey: keys.publicKey,
    now: Date.now(),
  });
  await writeFile(join(dir, `${name}.pem`), leaf.pem);
  await writeFile(join(dir, `${name}-chain.pem`), ca.chainPem());
  const verified = await openssl([
    'verify',
    ...['-CAfile', join(dataDir, 'bundle.pem'), '-untrusted', join(dir, `${name}-chain.pem`)],
    join(dir, `${name}.pem`),
  ]);
  t.equal(verified.code, 0, `openssl verify ${name}: ${verified.stderr}`);
}

t.test('ca init generates the root and intermediate in the token; ca.json holds references only', async (t) => {
  const result = await initCa({
    dataDir,
    trustDomain: TD,
    keyType: 'ec-p256',
    now: Date.now(),
    keyStore: { ...keyStore, tokens },
  });
  t.equal(result.trustDomain, TD);
  const meta = JSON.parse(await readFile(join(dataDir, 'ca.json'), 'utf8'));
  t.match(meta.keyStore, { kind: 'pkcs11', module: hsm.modulePath, token: { label: tokenLabel } });
  t.match(meta.keys, {
    root: { label: /^sigil-hsm\.example\.org-root-/, id: /^[0-9a-f]{32}$/ },
    intermediate: { id: /^[0-9a-f]{32}$/ },
  });
  for (const name of ['root.key', 'intermediate.key']) {
    await t.rejects(stat(join(dataDir, name)), { code: 'ENOENT' }, `no ${name} on disk`);
  }
  // The only private keys on disk are the control plane's and admin's own SVID keys, never a CA key.
  const keyFiles: string[] = [];
  for (const file of await filesUnder(dataDir)) {
    if ((await readFile(file, 'utf8')).includes('PRIVATE KEY')) keyFiles.push(file.slice(dataDir.length + 1));
  }
  t.same(keyFiles.sort(), ['admin/key.pem', 'control-plane/key.pem']);
  const objects = await pkcs11Tool(hsm, ['--token-label', tokenLabel, '--login', '--pin', PIN, '--list-objects']);
  t.match(objects, new RegExp(meta.keys.intermediate.id), 'pkcs11-tool sees the intermediate key by its id');
});

t.test('SVIDs and CRLs signed through the token verify with openssl', async (t) => {
  await issueAndVerify(t, 'web');
  const { ca } = await loadCa({ dataDir, passphrase: '', tokens });
  const now = Date.now();
  const crl = await ca.signCrl({
    crlNumber: 7,
    thisUpdate: now,
    nextUpdate: now + 3_600_000,
    entries: [{ serial: '0a1b2c', revokedAt: now, reasonCode: 1 }],
  });
  await writeFile(join(dir, 'crl.der'), crl);
  await writeFile(join(dir, 'intermediate.pem'), ca.chainPem());
  const checked = await openssl([
    'crl',
    '-inform',
    'DER',
    '-in',
    join(dir, 'crl.der'),
    '-CAfile',
    join(dir, 'intermediate.pem'),
    '-noout',
  ]);
  t.equal(checked.code, 0, checked.stderr);
  t.match(checked.stderr, /verify OK/);
});

t.test('a CA rotation makes the next root and intermediate in the token, and the new CA signs', async (t) => {
  const before = JSON.parse(await readFile(join(dataDir, 'ca.json'), 'utf8'));
  const prepared = await prepareCaFiles({ dataDir, passphrase: '', tokens, now: Date.now(), intermediateOnly: false });
  t.ok(prepared.meta.next?.keys?.root, 'the next root is a token key');
  t.not(prepared.meta.next?.keys?.intermediate.id, before.keys.intermediate.id);
  await writeFile(
    join(dataDir, 'bundle.pem'),
    certificatePem(prepared.root) + (await readFile(join(dataDir, 'bundle.pem'), 'utf8')),
  );
  await activateCaFiles({ dataDir, now: Date.now() });
  const after = JSON.parse(await readFile(join(dataDir, 'ca.json'), 'utf8'));
  t.same(after.keys, prepared.meta.next?.keys, 'activation makes the token keys of the prepared generation current');
  await issueAndVerify(t, 'after-rotation');
  const { ca: rotated } = await loadCa({ dataDir, passphrase: '', tokens });
  await retireCaFiles({ dataDir }, (old) => {
    rotated.removeRoot(new Uint8Array(old.rawData));
    return rotated.bundlePem();
  });

  const onlyIntermediate = await prepareCaFiles({
    dataDir,
    passphrase: '',
    tokens,
    now: Date.now() + 1000,
    intermediateOnly: true,
  });
  t.notOk(onlyIntermediate.meta.next?.keys?.root, 'an intermediate-only rotation keeps the root');
  await activateCaFiles({ dataDir, now: Date.now() + 1000 });
  const latest = JSON.parse(await readFile(join(dataDir, 'ca.json'), 'utf8'));
  t.equal(latest.keys.root.id, after.keys.root.id);
  await issueAndVerify(t, 'after-intermediate-rotation');
  const written = await filesUnder(dataDir);
  t.notOk(
    written.some((f) => /(root|intermediate)\.key$/.test(f)),
    'no CA key file was ever written',
  );
});

t.test('a code-signing signature made with a token key verifies with openssl cms', async (t) => {
  const { ca } = await loadCa({ dataDir, passphrase: '', tokens });
  const token = await tokens.open(hsm.modulePath, { label: tokenLabel });
  const { key } = await token.generateKeyPair('ec-p256', 'release-signing');
  const leaf = await ca.issueSigningCertificate({
    profile: 'code-signing',
    subject: 'CN=release-pipeline,O=Acme',
    publicKey: await importPublicKey(key.publicKeySpki, key.keyType),
    ttlMs: 86_400_000,
    now: Date.now(),
  });
  const content = Buffer.from('release artefact signed inside an HSM\n');
  await writeFile(join(dir, 'release.tar'), content);
  const signed = await signDigest(
    { chainDer: [leaf.der, ...leaf.chainDer], key },
    new Uint8Array(createHash('sha256').update(content).digest()),
    { now: Date.now(), format: 'der' },
  );
  await writeFile(join(dir, 'release.tar.p7s'), signed.signature);
  const cms = await openssl([
    ...['cms', '-verify', '-binary', '-inform', 'DER', '-purpose', 'any', '-out', '/dev/null'],
    ...[
      '-content',
      join(dir, 'release.tar'),
      '-in',
      join(dir, 'release.tar.p7s'),
      '-CAfile',
      join(dataDir, 'bundle.pem'),
    ],
  ]);
  t.equal(cms.code, 0, `openssl cms -verify: ${cms.stderr}`);
  t.match(cms.stderr, /Verification successful/);
});

t.test('every private key on the token is sensitive and was never extractable', async (t) => {
  const token = await tokens.open(hsm.modulePath, { label: tokenLabel });
  const privateKeys = (await token.listObjects()).filter((o) => o.class === 'private');
  // init (root + intermediate), full rotation (root + intermediate), intermediate-only (intermediate), code signing.
  t.equal(privateKeys.length, 6);
  for (const key of privateKeys) {
    t.match(key, { sensitive: true, alwaysSensitive: true, extractable: false, neverExtractable: true }, key.label);
  }
});

t.test('a root on its own token is used only to sign intermediates: the CA loads without it', async (t) => {
  const offlineDir = join(dir, 'offline-root');
  const init = new Pkcs11Tokens({ pin: PIN });
  await initCa({
    dataDir: offlineDir,
    trustDomain: TD,
    keyType: 'ec-p384',
    now: Date.now(),
    keyStore: { ...keyStore, rootToken: { label: rootLabel }, tokens: init },
  });
  await init.close();
  const meta = JSON.parse(await readFile(join(offlineDir, 'ca.json'), 'utf8'));
  t.match(meta, { rootKeyOffline: true, keyStore: { rootToken: { label: rootLabel } } });

  // A control plane without the root token's PIN (the token unplugged, as far as it can tell) loads and signs.
  const withoutRoot = new Pkcs11Tokens({ pin: PIN, rootPin: 'not-the-root-pin' });
  t.teardown(() => withoutRoot.close());
  const { ca } = await loadCa({ dataDir: offlineDir, passphrase: '', tokens: withoutRoot });
  t.equal(ca.keyType, 'ec-p384');
  const refused = await prepareCaFiles({
    dataDir: offlineDir,
    passphrase: '',
    tokens: withoutRoot,
    now: Date.now(),
    intermediateOnly: true,
  }).then(
    () => 'resolved',
    (e: { code: string }) => e.code,
  );
  t.equal(refused, 'SIGIL_ERR_PKCS11_PIN', 'a new intermediate needs the root token');
  t.notOk(JSON.parse(await readFile(join(offlineDir, 'ca.json'), 'utf8')).next, 'nothing was staged');

  // Plugged in (its PIN given): the root signs the next intermediate, made in the CA's token.
  const withRoot = new Pkcs11Tokens({ pin: PIN });
  t.teardown(() => withRoot.close());
  const prepared = await prepareCaFiles({
    dataDir: offlineDir,
    passphrase: '',
    tokens: withRoot,
    now: Date.now(),
    intermediateOnly: true,
  });
  t.ok(prepared.meta.next?.keys?.intermediate);
  t.notOk(prepared.meta.next?.keys?.root);
  const rootToken = await withRoot.open(hsm.modulePath, { label: rootLabel }, 'root');
  t.equal(
    (await rootToken.listObjects()).filter((o) => o.class === 'private').length,
    1,
    'the root token holds the root only',
  );
});
