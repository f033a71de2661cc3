import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { runCli } from '../cli/program.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { type Child, run, sigil } from './fixtures/processes.ts';
import { pkcs11Tool, startSoftHsm } from './fixtures/softhsm.ts';

// Issue 16 through the real CLI: `sigil ca init --key-store pkcs11`, a control plane (child process) that signs with
// the token, `ca show` and `check` saying where the keys live, a rotation whose keys are made in the token, an SVID
// fetched and verified by openssl; and the faults at start: a wrong PIN (tried once, the token not locked after)
// and a missing token, each a clear message and no half-started control plane.

const PIN = '97531864';
const TD = 'cli.hsm.example.org';
const hsm = await startSoftHsm(t);
const label = await hsm.initToken('sigil-cli', PIN);
const dir = await mkdtemp(join(tmpdir(), 'sigil-pkcs11-cli-'));
const children: Child[] = [];
t.teardown(async () => {
  for (const child of children) await child.stop();
  await rm(dir, { recursive: true, force: true });
});
await writeFile(join(dir, 'pin'), `${PIN}\n`, { mode: 0o600 });
await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');

const env: Record<string, string | undefined> = {
  ...Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => k.startsWith('SIGIL_'))
      .map((k) => [k, undefined]),
  ),
  SOFTHSM2_CONF: hsm.conf,
};

async function cli(t: Test, args: string[], expectCode = 0, extraEnv: Record<string, string> = {}) {
  const r = { code: 0, stdout: '', stderr: '' };
  r.code = await runCli(args, {
    stdout: { write: (s: string) => (r.stdout += s) },
    stderr: { write: (s: string) => (r.stderr += s) },
    env: { ...env, ...extraEnv },
    cwd: dir,
  });
  t.equal(
    r.code,
    expectCode,
    `sigil ${args.slice(0, 3).join(' ')} exits ${expectCode}${r.code === expectCode ? '' : `: ${r.stderr}`}`,
  );
  return r;
}

async function privateKeysOnToken(): Promise<number> {
  const listed = await pkcs11Tool(hsm, [
    '--token-label',
    label,
    '--login',
    '--pin',
    PIN,
    '--list-objects',
    '--type',
    'privkey',
  ]);
  return (listed.match(/Private Key Object/g) ?? []).length;
}

async function startControlPlane(extraEnv: Record<string, string | undefined>) {
  const child = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env: { ...env, ...extraEnv }, cwd: dir });
  children.push(child);
  return child;
}

t.test('ca init --key-store pkcs11 makes the CA keys in the token', async (t) => {
  const refused = await cli(
    t,
    [
      'ca',
      'init',
      '--trust-domain',
      TD,
      '--data-dir',
      'data',
      '--key-store',
      'pkcs11',
      '--pkcs11-module',
      hsm.modulePath,
    ],
    1,
  );
  t.match(refused.stderr, /--pkcs11-token LABEL or --pkcs11-slot/);
  const created = await cli(t, [
    ...['ca', 'init', '--trust-domain', TD, '--data-dir', join(dir, 'data')],
    ...['--key-store', 'pkcs11', '--pkcs11-module', hsm.modulePath, '--pkcs11-token', label, '--pin-file', 'pin'],
  ]);
  t.match(created.stdout, new RegExp(`keys +in PKCS#11 token "${label}"`));
  t.equal(await privateKeysOnToken(), 2, 'root and intermediate private keys are on the token');
  const meta = await readFile(join(dir, 'data', 'ca.json'), 'utf8');
  t.notMatch(meta, /PRIVATE KEY/);
});

t.test('a wrong PIN or a missing token stops the control plane at start, with the token not locked', async (t) => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const wrong = await startControlPlane({ SIGIL_PKCS11_PIN: '11111111' });
    t.not(await wrong.exited, 0, 'exits non-zero');
    t.match(wrong.stderr + wrong.stdout, /PIN is wrong.*will not retry/);
    t.notMatch(wrong.stderr + wrong.stdout, /11111111/, 'the PIN is never printed');
    t.notMatch(wrong.stdout, /control plane started/);
  }
  const noPin = await startControlPlane({});
  t.not(await noPin.exited, 0);
  t.match(noPin.stderr + noPin.stdout, /SIGIL_CA_PASSPHRASE|SIGIL_PKCS11_PIN/);
  t.equal(await privateKeysOnToken(), 2, 'the token still opens with the right PIN: not locked');

  // The token "unplugged": its directory moved away, then back.
  const tokens = join(hsm.dir, 'tokens');
  await rename(tokens, `${tokens}.away`);
  await mkdir(tokens);
  const absent = await startControlPlane({ SIGIL_PKCS11_PIN: PIN });
  t.not(await absent.exited, 0);
  t.match(absent.stderr + absent.stdout, new RegExp(`no PKCS#11 token labelled "${label}".*plug it in`));
  await rm(tokens, { recursive: true });
  await rename(`${tokens}.away`, tokens);
});

t.test(
  'the control plane signs with the token: SVIDs verify, ca show and check say where keys live, rotation stays in the token',
  async (t) => {
    const cp = await startControlPlane({ SIGIL_PKCS11_PIN_FILE: join(dir, 'pin') });
    const started = await cp.waitForMessage('control plane started');
    const admin = ['--data-dir', join(dir, 'data'), '--control-plane', String(started['grpc'])];

    const shown = JSON.parse((await cli(t, ['ca', 'show', ...admin, '--json'])).stdout);
    t.match(shown.current.rootKey, { store: 'pkcs11', where: new RegExp(`token "${label}".*key "sigil-${TD}-root-`) });
    t.match(shown.current.intermediateKey, { store: 'pkcs11' });
    // Issue 19: the JWT-SVID key was made in the same token at start; keys.json names it, the served bundle has it.
    const jwtStored = JSON.parse(await readFile(join(dir, 'data/jwt/keys.json'), 'utf8')).keys;
    t.match(jwtStored, [{ state: 'active', pkcs11: { label: new RegExp(`^sigil-${TD}-jwt-`) } }]);
    t.notOk(jwtStored[0].privateKeyPem, 'no JWT key material on disk');
    const served = (await (await fetch(`http://${started['http']}/bundle.json`)).json()) as {
      keys: { use: string }[];
    };
    t.match(
      served.keys.filter((k) => k.use === 'jwt-svid'),
      [{ kid: jwtStored[0].kid, alg: 'ES256' }],
    );
    t.equal(await privateKeysOnToken(), 3, 'root, intermediate and JWT keys in the token');
    const check = await cli(t, ['check', ...admin]);
    t.match(check.stdout, /OK +root key storage: the root key is hardware-backed/);
    t.match(check.stdout, /OK +intermediate key storage: the signing key is hardware-backed: PKCS#11 token/);

    const fetchSvid = async (name: string) => {
      const token = (
        await cli(t, ['token', 'create', ...admin, '--spiffe-id', `spiffe://${TD}/ns/a/sa/${name}`])
      ).stdout.trim();
      await cli(t, [
        ...['svid', 'fetch', '--control-plane', String(started['grpc']), '--bundle', join(dir, 'data/bundle.pem')],
        ...[
          '--token',
          token.split(/\s+/).pop()!,
          '--spiffe-id',
          `spiffe://${TD}/ns/a/sa/${name}`,
          '--out',
          join(dir, name),
        ],
      ]);
      const verified = await run(
        'openssl',
        ['verify', '-CAfile', 'data/bundle.pem', '-untrusted', `${name}/svid.pem`, `${name}/svid.pem`],
        { cwd: dir },
      );
      t.equal(verified.code, 0, `openssl verify ${name}: ${verified.stderr}`);
    };
    await fetchSvid('before');

    // A JWT-SVID minted over gRPC by this token-backed control plane validates with jose against /bundle.json.
    const identity = new GrpcIdentityApi({
      address: String(started['grpc']),
      bundlePem: () => readFileSync(join(dir, 'data/bundle.pem'), 'utf8'),
      trustDomain: TD,
    });
    const material = {
      certChainPem: readFileSync(join(dir, 'before/svid.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'before/key.pem'), 'utf8'),
      bundlePem: readFileSync(join(dir, 'before/bundle.pem'), 'utf8'),
      spiffeId: `spiffe://${TD}/ns/a/sa/before`,
      serial: '',
      notAfter: Date.now() + 3_600_000,
    };
    const mintAndVerify = async () => {
      const { token } = await identity.mintJwtSvid(material, ['billing']);
      const bundle = (await (await fetch(`http://${started['http']}/bundle.json`)).json()) as {
        keys: { use: string }[];
      };
      const jwks = createLocalJWKSet({
        keys: bundle.keys.filter((k) => k.use === 'jwt-svid').map(({ use: _use, ...key }) => key),
      });
      const { payload } = await jwtVerify(token, jwks, { audience: 'billing' });
      t.equal(payload.sub, material.spiffeId, 'the JWT-SVID signed in the token validates with jose');
      return decodeProtectedHeader(token).kid;
    };
    t.equal(await mintAndVerify(), jwtStored[0].kid);

    const prepared = JSON.parse((await cli(t, ['ca', 'rotate', 'prepare', ...admin, '--json'])).stdout);
    t.match(prepared.next.rootKey, { store: 'pkcs11' });
    t.equal(await privateKeysOnToken(), 6, 'the next root, intermediate and JWT keys were made in the token');
    await cli(t, ['ca', 'rotate', 'activate', ...admin, '--force', '--within', '1s']);
    await fetchSvid('after');
    const rotatedKid = await mintAndVerify();
    const rotated = JSON.parse(await readFile(join(dir, 'data/jwt/keys.json'), 'utf8')).keys;
    t.match(
      rotated.find((k: { kid: string }) => k.kid === rotatedKid),
      { state: 'active', pkcs11: { label: new RegExp(`^sigil-${TD}-jwt-`) } },
      'after activation the next JWT key, made in the token, signs',
    );
    t.not(rotatedKid, jwtStored[0].kid);

    // Code signing and the TSA with keys generated in the same token (issue 16, point 3).
    const tokenKey = (keyLabel: string) => [
      '--pkcs11-module',
      hsm.modulePath,
      '--pkcs11-token',
      label,
      '--key-label',
      keyLabel,
      '--pin-file',
      'pin',
    ];
    const signer = JSON.parse(
      (
        await cli(t, [
          'signing',
          'cert',
          ...admin,
          ...tokenKey('release'),
          '--subject',
          'CN=release-pipeline,O=Acme',
          '--out',
          'signer.pem',
          '--json',
        ])
      ).stdout,
    );
    t.match(signer, { profile: 'code-signing', key: /PKCS#11 token "sigil-cli" key "release"/ });
    await cli(t, ['tsa', 'cert', ...admin, ...tokenKey('tsa'), '--subject', 'CN=HSM TSA', '--out', 'tsa.pem']);
    const tsa = sigil(
      ['tsa', 'run', '--cert', 'tsa.pem', ...tokenKey('tsa'), '--listen', '127.0.0.1:0', '--state-dir', 'tsa-state'],
      { env, cwd: dir },
    );
    children.push(tsa);
    const tsaUrl = `http://${(await tsa.waitForMessage('tsa started'))['http']}/`;
    await writeFile(join(dir, 'release.tar'), 'an artefact signed and timestamped by keys in an HSM\n');
    const signed = JSON.parse(
      (await cli(t, ['sign', 'release.tar', '--cert', 'signer.pem', ...tokenKey('release'), '--tsa', tsaUrl, '--json']))
        .stdout,
    );
    t.match(signed.results, [{ timestamped: true }]);
    const cms = await run(
      'openssl',
      [
        ...['cms', '-verify', '-binary', '-inform', 'DER', '-purpose', 'any', '-out', '/dev/null'],
        ...['-content', 'release.tar', '-in', 'release.tar.p7s', '-CAfile', join(dir, 'data/bundle.pem')],
      ],
      { cwd: dir },
    );
    t.equal(cms.code, 0, `openssl cms -verify: ${cms.stderr}`);
    t.match(cms.stderr, /Verification successful/);
    const verdict = await cli(t, ['verify', 'release.tar', '--bundle', join(dir, 'data/bundle.pem'), '--json']);
    t.match(JSON.parse(verdict.stdout), { valid: true });
    await tsa.stop();
    t.equal(await privateKeysOnToken(), 8, 'CA keys (4), JWT keys (2), code-signing and TSA keys: all in the token');
    await cp.stop();
  },
);
