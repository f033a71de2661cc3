import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { KeyType } from '../common/key-type.ts';
import { run, runSigil, sigil, type Child } from './fixtures/processes.ts';

// Issue 2, "done when": the real CLI as child processes — ca init, control-plane run, token create, svid fetch,
// certs list/show — with the SVID checked by openssl against every rule of the X.509-SVID profile, for an EC and
// an RSA-3072 CA; exit codes and one-line reasons; a restart keeps CA, tokens and inventory.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const HOUR_MS = 3_600_000;
const PASSPHRASE = 'cli test passphrase';
// Only the variables the CLI needs: a SIGIL_* left in the caller's environment must not change what is tested.
const env: Record<string, string | undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('SIGIL_'))
    .map((k) => [k, undefined]),
);
env['SIGIL_CA_PASSPHRASE'] = PASSPHRASE;

async function workDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function cli(t: Test, cwd: string, args: string[], expectCode = 0) {
  const r = await runSigil(args, { env, cwd });
  t.equal(
    r.code,
    expectCode,
    `sigil ${args.slice(0, 2).join(' ')} exits ${expectCode}${r.code === expectCode ? '' : `: ${r.stderr}`}`,
  );
  return r;
}

async function openssl(t: Test, args: string[]) {
  const r = await run('openssl', args);
  t.equal(r.code, 0, `openssl ${args[0]} ${r.code === 0 ? '' : r.stderr}`);
  return r.stdout;
}

/** Starts `sigil control-plane run` and waits for its "started" log line; returns the bound addresses. */
async function startControlPlane(t: Test, cwd: string, children: Child[]): Promise<{ child: Child; grpc: string }> {
  const child = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env, cwd });
  children.push(child);
  const started = await child.waitForMessage('control plane started');
  const runtime = JSON.parse(await readFile(join(cwd, 'data', 'control-plane.json'), 'utf8')) as {
    grpc: string;
    http: string;
    pid: number;
  };
  t.same(
    runtime,
    { grpc: started['grpc'], http: started['http'], pid: child.process.pid },
    'control-plane.json names the bound addresses and the pid',
  );
  t.not(runtime.grpc, '127.0.0.1:0', 'a real port was bound');
  return { child, grpc: runtime.grpc };
}

interface Extension {
  readonly critical: boolean;
  readonly value: string;
}

/** The extensions block of `openssl x509 -text`, by name. */
function extensionsOf(text: string): Map<string, Extension> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'X509v3 extensions:');
  const found = new Map<string, Extension>();
  let current: { name: string; critical: boolean; value: string[] } | undefined;
  const flush = () => {
    if (current) found.set(current.name, { critical: current.critical, value: current.value.join('\n') });
  };
  for (const line of lines.slice(start + 1)) {
    const header = /^ {12}(\S[^:]*):( critical)? ?$/.exec(line);
    if (header) {
      flush();
      current = { name: header[1]!, critical: header[2] !== undefined, value: [] };
    } else if (/^ {16}/.test(line) && current) {
      current.value.push(line.trim());
    } else {
      break;
    }
  }
  flush();
  return found;
}

function opensslTime(text: string, field: 'notBefore' | 'notAfter'): number {
  const m = new RegExp(`^${field}=(.+)$`, 'm').exec(text);
  return Date.parse((m?.[1] ?? '').replace(' ', 'T'));
}

/** Every file under `dir` with its mode and content hash: what "the data dir is unchanged" compares. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    out[relative(dir, path)] = entry.isDirectory()
      ? `dir ${info.mode.toString(8)}`
      : `${info.mode.toString(8)} ${createHash('sha256')
          .update(await readFile(path))
          .digest('hex')}`;
  }
  return out;
}

/** Checks the SVID in `out` with openssl against every leaf rule of DESIGN.md section 2. */
async function checkSvidProfile(
  t: Test,
  dir: string,
  out: string,
  spiffeId: string,
  keyType: KeyType,
  issuedBetween: [number, number],
): Promise<string> {
  const svid = join(out, 'svid.pem');
  const chain = await readFile(svid, 'utf8');
  t.equal(chain.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'svid.pem holds the leaf, then the intermediate');
  t.equal(
    chain.slice(chain.indexOf('-----BEGIN', 1)),
    await readFile(join(dir, 'data', 'intermediate.pem'), 'utf8'),
    'the second block is the intermediate',
  );
  const root = join(dir, 'data', 'root.pem');
  const intermediate = join(dir, 'data', 'intermediate.pem');
  for (const purpose of ['sslserver', 'sslclient']) {
    t.equal(
      (await openssl(t, ['verify', '-CAfile', root, '-untrusted', intermediate, '-purpose', purpose, svid])).trim(),
      `${svid}: OK`,
      `openssl verify (${purpose})`,
    );
  }
  t.same(
    await readFile(join(out, 'bundle.pem'), 'utf8'),
    await readFile(join(dir, 'data', 'bundle.pem'), 'utf8'),
    'bundle.pem is the trust bundle',
  );

  const text = await openssl(t, ['x509', '-in', svid, '-noout', '-text']);
  const ext = extensionsOf(text);
  t.same(
    ext.get('X509v3 Subject Alternative Name')?.value,
    `URI:${spiffeId}`,
    'exactly one SAN, the URI SAN = the SPIFFE ID',
  );
  t.same(ext.get('X509v3 Basic Constraints'), { critical: true, value: 'CA:FALSE' }, 'CA:FALSE, critical');
  const usage = keyType.startsWith('rsa') ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
  t.same(ext.get('X509v3 Key Usage'), { critical: true, value: usage }, `key usage ${usage}, critical`);
  t.same(
    ext.get('X509v3 Extended Key Usage')?.value.split(', ').sort(),
    ['TLS Web Client Authentication', 'TLS Web Server Authentication'],
    'EKU serverAuth + clientAuth',
  );
  t.ok(ext.get('X509v3 Subject Key Identifier')?.value, 'SKI present');
  t.ok(ext.get('X509v3 Authority Key Identifier')?.value, 'AKI present');
  t.same(
    [...ext.keys()].sort(),
    [
      'X509v3 Authority Key Identifier',
      'X509v3 Basic Constraints',
      'X509v3 Extended Key Usage',
      'X509v3 Key Usage',
      'X509v3 Subject Alternative Name',
      'X509v3 Subject Key Identifier',
    ],
    'no other extensions',
  );
  const keyLine = keyType.startsWith('rsa') ? `Public-Key: (${keyType.slice(4)} bit)` : 'NIST CURVE: P-256';
  t.match(text, keyLine, `the requested ${keyType} key was certified`);
  // The CA in these tests has the same key type as the workload.
  t.match(
    text,
    keyType.startsWith('rsa')
      ? 'Signature Algorithm: sha256WithRSAEncryption'
      : 'Signature Algorithm: ecdsa-with-SHA256',
    'signed with SHA-256 by the CA key',
  );

  const facts = await openssl(t, ['x509', '-in', svid, '-noout', '-serial', '-dates', '-dateopt', 'iso_8601']);
  const serial = /^serial=([0-9A-F]+)$/m.exec(facts)?.[1] ?? '';
  t.equal(serial.length, 32, '16-byte serial');
  t.ok(parseInt(serial.slice(0, 2), 16) < 0x80, 'serial is positive without a padding byte');
  const notBefore = opensslTime(facts, 'notBefore');
  const notAfter = opensslTime(facts, 'notAfter');
  const [from, to] = issuedBetween;
  t.ok(notBefore >= from - 60_000 && notBefore <= to, 'notBefore backdated by at most 60 s');
  t.ok(notAfter <= to + HOUR_MS && notAfter >= from + HOUR_MS - 1_000, 'valid for the default 1 h from issuance');
  t.ok(notAfter - notBefore <= HOUR_MS + 60_000, 'lifetime at most 1 h plus the backdate');
  const intermediateAfter = opensslTime(
    await openssl(t, ['x509', '-in', intermediate, '-noout', '-dates', '-dateopt', 'iso_8601']),
    'notAfter',
  );
  t.ok(notAfter <= intermediateAfter, 'not past the intermediate');

  t.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600, 'key.pem is mode 0600');
  t.equal(
    await openssl(t, ['pkey', '-in', join(out, 'key.pem'), '-pubout']),
    await openssl(t, ['x509', '-in', svid, '-noout', '-pubkey']),
    'key.pem is the key of the SVID',
  );
  return serial.toLowerCase();
}

for (const keyType of ['ec-p256', 'rsa-3072'] as const) {
  t.test(`ca init (${keyType}), control-plane run, token create, svid fetch, certs list/show`, async (t) => {
    const dir = await workDir(t);
    const children: Child[] = [];
    t.teardown(async () => {
      for (const c of children) await c.stop();
    });
    await cli(t, dir, [
      'ca',
      'init',
      '--trust-domain',
      TD,
      '--data-dir',
      'data',
      ...(keyType === 'ec-p256' ? [] : ['--key-type', keyType]),
    ]);
    await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
    const cp = await startControlPlane(t, dir, children);

    const created = JSON.parse(
      (await cli(t, dir, ['token', 'create', '--data-dir', 'data', '--spiffe-id', API, '--json'])).stdout,
    ) as { token: string; spiffeId: string; uses: number; expiresAt: string };
    t.match(created, { spiffeId: API, uses: 1, token: /^sigil-jt-/ }, 'token create --json');
    // An old, world-readable key.pem in the way: the new key must not inherit its mode (issue 21).
    await mkdir(join(dir, 'api'), { recursive: true });
    await writeFile(join(dir, 'api', 'key.pem'), 'old key\n', { mode: 0o644 });
    const before = Date.now();
    const fetched = await cli(t, dir, [
      'svid',
      'fetch',
      '--control-plane',
      cp.grpc,
      '--bundle',
      'data/bundle.pem',
      '--token',
      created.token,
      '--spiffe-id',
      API,
      '--key-type',
      keyType,
      '--out',
      'api',
      '--json',
    ]);
    const after = Date.now();
    t.match(JSON.parse(fetched.stdout), { files: ['svid.pem', 'bundle.pem', 'key.pem'], trustDomain: TD });
    const serial = await checkSvidProfile(t, dir, join(dir, 'api'), API, keyType, [before, after]);

    const listed = JSON.parse((await cli(t, dir, ['certs', 'list', '--data-dir', 'data', '--json'])).stdout) as {
      serial: string;
      kind: string;
      spiffeId: string;
      keyType: string;
      status: string;
    }[];
    t.match(
      listed.find((c) => c.serial === serial),
      { kind: 'svid', spiffeId: API, keyType, status: 'active' },
      'certs list shows the SVID',
    );
    t.same(
      listed.map((c) => c.kind).sort(),
      ['admin', 'control-plane', 'control-plane', 'intermediate', 'root', 'svid'],
      "and the CA's own certificates",
    );
    const filtered = JSON.parse(
      (await cli(t, dir, ['certs', 'list', '--data-dir', 'data', '--spiffe-id', API, '--json'])).stdout,
    ) as { serial: string }[];
    t.same(
      filtered.map((c) => c.serial),
      [serial],
      'certs list --spiffe-id',
    );
    const shown = JSON.parse((await cli(t, dir, ['certs', 'show', serial, '--data-dir', 'data', '--json'])).stdout) as {
      serial: string;
      spiffeId: string;
      kind: string;
      pem: string;
    };
    t.match(shown, { serial, spiffeId: API, kind: 'svid' }, 'certs show --json');
    const leafPem = (await readFile(join(dir, 'api', 'svid.pem'), 'utf8')).split(/(?<=-----END CERTIFICATE-----\n)/)[0];
    t.equal(shown.pem, leafPem, 'certs show gives the issued certificate');

    const reused = await cli(
      t,
      dir,
      [
        'svid',
        'fetch',
        '--control-plane',
        cp.grpc,
        '--bundle',
        'data/bundle.pem',
        '--token',
        created.token,
        '--spiffe-id',
        API,
        '--out',
        'again',
      ],
      1,
    );
    t.match(
      reused.stderr,
      /^sigil: attesting to the control plane: the join token has already been used.*\[SIGIL_ERR_TOKEN_USED\]\n$/,
      'a reused token: exit 1, one line with the reason',
    );
    t.notOk(reused.stderr.includes(created.token), 'the token is not echoed');
    t.notOk(existsSync(join(dir, 'again')), 'nothing written on failure');

    t.equal(await cp.child.stop(), 0, 'SIGTERM: exit code 0');
    t.match(cp.child.lines.at(-1), { msg: 'control plane stopped' });
    t.notOk(cp.child.stdout.includes(created.token.slice('sigil-jt-'.length)), 'the token never reached the log');
    t.notOk(cp.child.stdout.includes('PRIVATE KEY'), 'no private key in the log');
  });
}

t.test('a restart on the same data dir keeps the CA, the tokens and the inventory', async (t) => {
  const dir = await workDir(t);
  const children: Child[] = [];
  t.teardown(async () => {
    for (const c of children) await c.stop();
  });
  await cli(t, dir, ['ca', 'init', '--trust-domain', TD, '--data-dir', 'data']);
  await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
  const first = await startControlPlane(t, dir, children);
  const token = async (spiffeId: string, uses: number) =>
    (
      JSON.parse(
        (
          await cli(t, dir, [
            'token',
            'create',
            '--data-dir',
            'data',
            '--spiffe-id',
            spiffeId,
            '--uses',
            String(uses),
            '--json',
          ])
        ).stdout,
      ) as { token: string }
    ).token;
  const fetch = (grpc: string, joinToken: string, spiffeId: string, out: string, code = 0) =>
    cli(
      t,
      dir,
      [
        'svid',
        'fetch',
        '--control-plane',
        grpc,
        '--bundle',
        'data/bundle.pem',
        '--token',
        joinToken,
        '--spiffe-id',
        spiffeId,
        '--out',
        out,
      ],
      code,
    );
  const apiToken = await token(API, 2);
  const webToken = await token(WEB, 1);
  await fetch(first.grpc, apiToken, API, 'api-1');
  const listBefore = (await cli(t, dir, ['certs', 'list', '--data-dir', 'data', '--json'])).stdout;
  const caBefore = await fingerprint(join(dir, 'data'));
  t.equal(await first.child.stop(), 0, 'first run stopped cleanly');

  const second = await startControlPlane(t, dir, children);
  const caAfter = await fingerprint(join(dir, 'data'));
  for (const file of [
    'root.pem',
    'root.key',
    'intermediate.pem',
    'intermediate.key',
    'bundle.pem',
    'ca.json',
    'admin/svid.pem',
  ]) {
    t.equal(caAfter[file], caBefore[file], `${file} unchanged by the restart`);
  }
  const listAfter = JSON.parse((await cli(t, dir, ['certs', 'list', '--data-dir', 'data', '--json'])).stdout) as {
    serial: string;
  }[];
  const serialsBefore = (JSON.parse(listBefore) as { serial: string }[]).map((c) => c.serial);
  t.same(
    serialsBefore.filter((s) => !listAfter.some((c) => c.serial === s)),
    [],
    'every certificate of the first run is still listed',
  );
  await fetch(second.grpc, webToken, WEB, 'web');
  await fetch(second.grpc, apiToken, API, 'api-2');
  const used = await fetch(second.grpc, apiToken, API, 'api-3', 1);
  t.match(used.stderr, /\[SIGIL_ERR_TOKEN_USED\]/, "the token's remaining uses survived the restart too");
  for (const out of ['web', 'api-2']) {
    t.equal(
      (
        await openssl(t, [
          'verify',
          '-CAfile',
          join(dir, 'data', 'root.pem'),
          '-untrusted',
          join(dir, 'data', 'intermediate.pem'),
          join(dir, out, 'svid.pem'),
        ])
      ).trim(),
      `${join(dir, out, 'svid.pem')}: OK`,
      `${out}: issued after the restart by the same CA`,
    );
  }
  t.equal(await second.child.stop(), 0, 'second run stopped cleanly');
});

t.test('exit codes and one-line reasons', async (t) => {
  const dir = await workDir(t);
  await cli(t, dir, ['ca', 'init', '--trust-domain', TD, '--data-dir', 'data']);
  const unchanged = await fingerprint(join(dir, 'data'));

  const unknownFlag = await cli(t, dir, ['token', 'create', '--spiffe-id', API, '--bogus'], 2);
  t.equal(
    unknownFlag.stderr,
    "sigil: unknown option '--bogus' (see --help)\n",
    'unknown flag: exit 2, one line naming the flag',
  );
  const badTtl = await cli(t, dir, ['token', 'create', '--data-dir', 'data', '--spiffe-id', API, '--ttl', '15x'], 1);
  t.match(
    badTtl.stderr,
    /^sigil: invalid duration "15x": .*\[SIGIL_ERR_DURATION_INVALID\]\n$/,
    'bad --ttl: exit 1, one line',
  );
  const badKeyType = await cli(
    t,
    dir,
    ['ca', 'init', '--trust-domain', TD, '--data-dir', 'other', '--key-type', 'rsa-1024'],
    1,
  );
  t.match(
    badKeyType.stderr,
    /^sigil: unsupported key type "rsa-1024".*\[SIGIL_ERR_KEY_UNSUPPORTED\]\n$/,
    'bad --key-type: exit 1, one line',
  );
  const again = await cli(t, dir, ['ca', 'init', '--trust-domain', TD, '--data-dir', 'data'], 1);
  t.match(again.stderr, /^sigil: .*\[SIGIL_ERR_CA_EXISTS\]\n$/, 'ca init on an existing CA: refused');
  const noPassphrase = await runSigil(['control-plane', 'run', '--data-dir', 'data'], {
    env: { ...env, SIGIL_CA_PASSPHRASE: undefined },
    cwd: dir,
  });
  t.match(
    { code: noPassphrase.code, stderr: noPassphrase.stderr },
    { code: 1, stderr: /^sigil: .*\[SIGIL_ERR_CA_PASSPHRASE\]\n$/ },
    'no passphrase: refused',
  );

  const configs: Array<[string, string, RegExp[]]> = [
    [
      'unknown key',
      'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nsvid: { ttl: 1h, lifetime: 2h }\n',
      [/^bad\.yaml:3: svid: unknown key "lifetime"/m],
    ],
    [
      'bad duration',
      'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nsvid: { ttl: 1 hour }\n',
      [/^bad\.yaml:3: svid\.ttl: invalid duration "1 hour"/m],
    ],
    [
      'both, listed at once',
      'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nsvid: { ttl: soon }\nlogging: {}\n',
      [/\(2 findings\)/, /^bad\.yaml:3: svid\.ttl: invalid duration "soon"/m, /^bad\.yaml:4: unknown key "logging"/m],
    ],
  ];
  for (const [name, yaml, findings] of configs) {
    await writeFile(join(dir, 'bad.yaml'), yaml);
    const r = await cli(t, dir, ['control-plane', 'run', '--config', 'bad.yaml'], 1);
    t.match(
      r.stderr.split('\n')[0],
      /^sigil: bad\.yaml: invalid configuration, nothing was applied/,
      `${name}: the first line says what is wrong`,
    );
    for (const finding of findings) t.match(r.stderr, finding, `${name}: names the key and line`);
    t.match(r.stderr, /\[SIGIL_ERR_CONFIG_INVALID\]\n$/, `${name}: coded`);
    t.same(await fingerprint(join(dir, 'data')), unchanged, `${name}: the data dir is unchanged (no store created)`);
  }
  t.notOk(existsSync(join(dir, 'other')), 'the refused ca init created nothing');
});
