import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode } from '../../common/errors.ts';
import { initCa, loadCa } from './init-ca.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { readPrivateKeyFile } from './key-file.ts';

const run = promisify(execFile);
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const AT = String(NOW / 1000 + 60);
const TD = 'example.org';
const PASSPHRASE = 'init-ca test passphrase';

async function openssl(args: string[]): Promise<string> {
  return (await run('openssl', args)).stdout;
}

async function workDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-init-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The SigilError a promise rejects with ("resolved" when it does not reject). */
async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code: string; message: string }) => e,
  );
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const count = (text: string) => (text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

for (const keyType of ['ec-p256', 'rsa-3072'] as const) {
  t.test(`ca init with ${keyType} creates the whole CA directory`, async (t) => {
    const dataDir = join(await workDir(t), 'ca');
    const result = await initCa({ dataDir, trustDomain: TD, keyType, passphrase: PASSPHRASE, now: NOW });
    const f = result.files;

    t.same((await readdir(dataDir)).sort(), [
      'admin',
      'bundle.pem',
      'ca.json',
      'control-plane',
      'intermediate.key',
      'intermediate.pem',
      'root.key',
      'root.pem',
    ]);
    t.equal(await mode(dataDir), 0o700, 'data dir 0700');
    for (const key of [f.rootKey, f.intermediateKey, f.controlPlaneKey, f.adminKey])
      t.equal(await mode(key), 0o600, `${key} is 0600`);
    for (const key of [f.rootKey, f.intermediateKey, f.controlPlaneKey])
      t.ok((await readFile(key, 'utf8')).startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'), `${key} encrypted`);
    for (const key of [f.adminKey])
      t.ok((await readFile(key, 'utf8')).startsWith('-----BEGIN PRIVATE KEY-----'), `${key} plain PKCS#8`);
    t.notMatch((await readFile(f.rootKey, 'utf8')) + (await readFile(f.meta, 'utf8')), PASSPHRASE);

    const bundle = await readFile(f.bundle, 'utf8');
    t.equal(bundle, await readFile(f.rootCert, 'utf8'), 'bundle = root only');
    t.equal(count(bundle), 1);
    t.equal(await readFile(f.adminBundle, 'utf8'), bundle);
    t.equal(count(await readFile(f.controlPlaneSvid, 'utf8')), 2, 'control-plane svid.pem = leaf + intermediate');
    t.equal(count(await readFile(f.adminSvid, 'utf8')), 2, 'admin svid.pem = leaf + intermediate');

    for (const [svid, id] of [
      [f.controlPlaneSvid, `spiffe://${TD}/sigil/control-plane`],
      [f.adminSvid, `spiffe://${TD}/sigil/admin/default`],
    ] as const) {
      t.match(
        await openssl(['verify', '-attime', AT, '-CAfile', f.rootCert, '-untrusted', f.intermediateCert, svid]),
        /: OK/,
        `${svid} verifies`,
      );
      t.match(await openssl(['x509', '-in', svid, '-noout', '-ext', 'subjectAltName']), `URI:${id}`);
    }
    t.match(
      await openssl(['x509', '-in', f.controlPlaneSvid, '-noout', '-ext', 'subjectAltName']),
      'DNS:localhost, IP Address:127.0.0.1',
    );
    t.match(await openssl(['x509', '-in', f.intermediateCert, '-noout', '-text']), /CA:TRUE, pathlen:0/);

    const meta = JSON.parse(await readFile(f.meta, 'utf8'));
    t.same(
      { td: meta.trustDomain, kt: meta.keyType, at: meta.createdAt, root: meta.files.rootCert },
      { td: TD, kt: keyType, at: '2026-01-01T12:00:00.000Z', root: 'root.pem' },
    );

    const { root, intermediate, controlPlane, admin } = result.issued;
    t.equal(controlPlane.notAfter, NOW + 30 * 86_400_000, 'control-plane SVID: 30 days');
    t.equal(admin.notAfter, NOW + 90 * 86_400_000, 'admin SVID: 90 days');
    t.equal(intermediate.notAfter, NOW + 365 * 86_400_000, 'intermediate: 1 year');
    t.equal(root.notAfter, NOW + 3650 * 86_400_000, 'root: 10 years');
    t.equal(new Set([root, intermediate, controlPlane, admin].map((c) => c.serial)).size, 4);
    for (const c of [root, intermediate, controlPlane, admin]) t.equal(c.keyType, keyType);

    const loaded = await loadCa({ dataDir, passphrase: PASSPHRASE });
    t.same({ td: loaded.trustDomain, kt: loaded.keyType, at: loaded.createdAt }, { td: TD, kt: keyType, at: NOW });
    t.equal(loaded.ca.intermediateSerial, intermediate.serial);
    t.equal(loaded.ca.bundlePem(), bundle);
    const keys = await generateKeyPair('ec-p256');
    const leaf = await loaded.ca.issueLeaf({
      spiffeId: `spiffe://${TD}/after/reload`,
      publicKey: keys.publicKey,
      now: NOW + 1000,
    });
    await writeFile(join(dataDir, '..', 'leaf.pem'), leaf.pem);
    t.match(
      await openssl([
        'verify',
        '-attime',
        AT,
        '-CAfile',
        f.bundle,
        '-untrusted',
        f.intermediateCert,
        join(dataDir, '..', 'leaf.pem'),
      ]),
      /: OK/,
      'reloaded CA issues verifiable SVIDs',
    );
    await t.rejects(readPrivateKeyFile(f.controlPlaneKey), 'the control-plane key needs the passphrase');
    t.ok(await readPrivateKeyFile(f.controlPlaneKey, { passphrase: PASSPHRASE }), 'and opens with it');
  });
}

t.test('serve hosts and admin name', async (t) => {
  const dataDir = await workDir(t);
  const result = await initCa({
    dataDir,
    trustDomain: TD,
    keyType: 'ec-p256',
    passphrase: PASSPHRASE,
    now: NOW,
    adminName: 'alice',
    serveHosts: ['cp.example.org', '10.0.0.7', '::1'],
  });
  t.match(
    await openssl(['x509', '-in', result.files.controlPlaneSvid, '-noout', '-ext', 'subjectAltName']),
    'DNS:cp.example.org, IP Address:10.0.0.7, IP Address:0:0:0:0:0:0:0:1',
  );
  t.match(
    await openssl(['x509', '-in', result.files.adminSvid, '-noout', '-ext', 'subjectAltName']),
    `URI:spiffe://${TD}/sigil/admin/alice`,
  );
});

t.test('refuses to overwrite an existing CA and changes nothing', async (t) => {
  const dataDir = await workDir(t);
  await initCa({ dataDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW });
  const before = await Promise.all(
    ['root.pem', 'root.key', 'intermediate.key', 'ca.json'].map((n) => readFile(join(dataDir, n))),
  );
  const err = await failure(initCa({ dataDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW }));
  t.equal(err.code, ErrorCode.CA_EXISTS);
  t.match(err.message, /already holds a CA \(.*root\.pem.*\): nothing was changed/);
  const after = await Promise.all(
    ['root.pem', 'root.key', 'intermediate.key', 'ca.json'].map((n) => readFile(join(dataDir, n))),
  );
  t.same(after, before, 'byte for byte');
  t.same(
    (await readdir(dataDir)).filter((n) => n.startsWith('.')),
    [],
    'no temp dir left',
  );

  const partial = await workDir(t);
  await writeFile(join(partial, 'intermediate.key'), 'stray');
  await t.rejects(
    initCa({ dataDir: partial, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW }),
    { code: ErrorCode.CA_EXISTS },
    'even one stray CA file',
  );
  t.same(await readdir(partial), ['intermediate.key']);
});

t.test('bad input fails before anything is written', async (t) => {
  const base = { trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW } as const;
  const cases: Array<[string, object, string]> = [
    ['empty passphrase', { passphrase: '' }, ErrorCode.CA_PASSPHRASE],
    ['bad trust domain', { trustDomain: 'Example.org' }, ErrorCode.SPIFFE_ID_INVALID],
    ['bad key type', { keyType: 'rsa-1024' }, ErrorCode.KEY_UNSUPPORTED],
    ['bad admin name', { adminName: 'a/b' }, ErrorCode.INVALID_ARGUMENT],
    ['bad serve host', { serveHosts: ['bad host'] }, ErrorCode.INVALID_ARGUMENT],
  ];
  for (const [name, override, code] of cases) {
    const dataDir = join(await workDir(t), 'ca');
    await t.rejects(initCa({ ...base, dataDir, ...override }), { code }, name);
    const left = await readdir(dataDir).catch(() => []);
    t.same(left, [], `${name}: nothing written`);
  }
});

t.test('loadCa: wrong passphrase, no CA, broken CA', async (t) => {
  const dataDir = await workDir(t);
  await initCa({ dataDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW });
  const err = await failure(loadCa({ dataDir, passphrase: 'not the passphrase' }));
  t.equal(err.code, ErrorCode.CA_PASSPHRASE);
  t.match(
    err.message,
    `the CA passphrase does not decrypt ${join(dataDir, 'intermediate.key')}: check SIGIL_CA_PASSPHRASE or --passphrase-file`,
  );
  t.notMatch(err.message, 'not the passphrase');

  const empty = await workDir(t);
  const missing = await failure(loadCa({ dataDir: empty, passphrase: PASSPHRASE }));
  t.equal(missing.code, ErrorCode.CA_MISSING);
  t.match(missing.message, `run sigil ca init --data-dir ${empty} first`);
  await t.rejects(loadCa({ dataDir: join(empty, 'nope'), passphrase: PASSPHRASE }), { code: ErrorCode.CA_MISSING });

  await rm(join(dataDir, 'intermediate.pem'));
  await t.rejects(
    loadCa({ dataDir, passphrase: PASSPHRASE }),
    { code: ErrorCode.CA_INVALID },
    'missing intermediate.pem',
  );

  const swapped = await workDir(t);
  const otherDir = await workDir(t);
  await initCa({ dataDir: swapped, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW });
  await initCa({ dataDir: otherDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: NOW });
  await rm(join(swapped, 'bundle.pem'));
  await writeFile(join(swapped, 'bundle.pem'), await readFile(join(otherDir, 'bundle.pem')));
  await t.rejects(
    loadCa({ dataDir: swapped, passphrase: PASSPHRASE }),
    { code: ErrorCode.CA_INVALID },
    'intermediate does not chain to the bundle',
  );
});
