import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from './fixtures/nats-server.ts';
import { openssl, startNginx } from './fixtures/nginx.ts';
import { runSigil } from './fixtures/processes.ts';

// Issue 12: `sigil tls check` and `sigil check --endpoint` against a real nginx (Debian's) configured twice on
// loopback: strong (TLS 1.2+1.3, ECDHE + AEAD, HSTS, a P-256 certificate from a test CA) and weak (TLS 1.0 on, a CBC
// suite without forward secrecy, a self-signed 1024-bit RSA certificate signed with SHA-1, no HSTS).

const dir = mkdtempSync(join(tmpdir(), 'sigil-nginx-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const ext = join(dir, 'leaf.ext');
writeFileSync(ext, 'subjectAltName=DNS:localhost\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth\n');
await openssl(dir, [
  'req',
  '-x509',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  'ca.key',
  '-out',
  'ca.pem',
  '-subj',
  '/CN=Test Edge CA',
  '-days',
  '30',
  '-addext',
  'basicConstraints=critical,CA:true',
  '-addext',
  'keyUsage=critical,keyCertSign,cRLSign',
]);
await openssl(dir, [
  'req',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  'strong.key',
  '-out',
  'strong.csr',
  '-subj',
  '/CN=localhost',
]);
await openssl(dir, [
  'x509',
  '-req',
  '-in',
  'strong.csr',
  '-CA',
  'ca.pem',
  '-CAkey',
  'ca.key',
  '-out',
  'strong-leaf.pem',
  '-days',
  '90',
  '-extfile',
  ext,
]);
await openssl(dir, [
  'req',
  '-x509',
  '-newkey',
  'rsa:1024',
  '-nodes',
  '-keyout',
  'weak.key',
  '-out',
  'weak.pem',
  '-subj',
  '/CN=localhost',
  '-days',
  '10',
  '-sha1',
]);
// nginx serves the whole chain from one file.
const { readFileSync } = await import('node:fs');
writeFileSync(
  join(dir, 'strong.pem'),
  readFileSync(join(dir, 'strong-leaf.pem'), 'utf8') + readFileSync(join(dir, 'ca.pem'), 'utf8'),
);

const strongPort = await freePort();
const weakPort = await freePort();
const plainPort = await freePort();
const mtlsPort = await freePort();
const nginx = await startNginx(dir, [
  {
    port: strongPort,
    certFile: join(dir, 'strong.pem'),
    keyFile: join(dir, 'strong.key'),
    directives: `ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
      ssl_prefer_server_ciphers on; add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;`,
  },
  {
    port: weakPort,
    certFile: join(dir, 'weak.pem'),
    keyFile: join(dir, 'weak.key'),
    // OpenSSL 3 refuses TLS 1.0 and 1024-bit keys at its default security level: level 0 lets nginx serve them.
    directives: 'ssl_protocols TLSv1 TLSv1.2; ssl_ciphers AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0;',
  },
  {
    // Sound but plain: TLS 1.2 only and no HSTS, which are warnings, not critical findings.
    port: plainPort,
    certFile: join(dir, 'strong.pem'),
    keyFile: join(dir, 'strong.key'),
    directives: 'ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;',
  },
  {
    // Asks every client for a certificate from the test CA (but serves those without one too).
    port: mtlsPort,
    certFile: join(dir, 'strong.pem'),
    keyFile: join(dir, 'strong.key'),
    directives: `ssl_protocols TLSv1.2 TLSv1.3; ssl_verify_client optional; ssl_client_certificate ${join(dir, 'ca.pem')};`,
  },
]);
t.teardown(() => nginx.stop());

const ca = join(dir, 'ca.pem');

interface CheckJson {
  grade: string;
  protocols: string[];
  suites: Record<string, { name: string }[]>;
  hsts: string | null;
  clientCertificate: { requested: boolean };
  chain: { trusted: boolean; nameMatches: boolean };
  findings: { ruleId: string; severity: string }[];
}

t.test('tls check grades the strong configuration A+', async (t) => {
  const r = await runSigil(['tls', 'check', `localhost:${strongPort}`, '--ca', ca, '--json']);
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CheckJson;
  t.equal(report.grade, 'A+');
  t.same(report.protocols, ['TLSv1.2', 'TLSv1.3']);
  t.same(
    report.suites['TLSv1.2']?.map((s) => s.name),
    ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
    "in the server's order",
  );
  t.match(report.hsts, /max-age=31536000/);
  t.same(report.chain, { served: 2, trusted: true, error: null, nameMatches: true });
  t.same(report.findings, []);
  t.same(report.clientCertificate, { requested: false }, 'no CertificateRequest from a server without client auth');
});

t.test('tls check reports a server that requests a client certificate', async (t) => {
  const r = await runSigil(['tls', 'check', `localhost:${mtlsPort}`, '--ca', ca, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as CheckJson).clientCertificate, { requested: true });
  const text = await runSigil(['tls', 'check', `localhost:${mtlsPort}`, '--ca', ca]);
  t.match(text.stdout, /client cert {3}requested \(mutual TLS\)/);
  const plain = await runSigil(['tls', 'check', `localhost:${plainPort}`, '--ca', ca]);
  t.match(plain.stdout, /client cert {3}not requested/);
});

t.test('tls check grades the weak configuration F and names each weakness', async (t) => {
  const r = await runSigil(['tls', 'check', `localhost:${weakPort}`, '--ca', ca, '--json']);
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CheckJson;
  t.equal(report.grade, 'F');
  const rules = report.findings.map((f) => f.ruleId);
  for (const rule of [
    'tls.legacy-protocol',
    'tls.non-aead',
    'tls.no-forward-secrecy',
    'key.rsa-weak',
    'signature.weak-hash',
    'leaf.self-signed',
    'http.no-hsts',
    'chain.untrusted',
  ]) {
    t.ok(rules.includes(rule), rule);
  }
  const text = await runSigil(['tls', 'check', `localhost:${weakPort}`, '--ca', ca]);
  t.match(text.stdout, /grade F/);
  t.match(text.stdout, /CRITICAL tls\.legacy-protocol: offers TLSv1: disable everything below TLS 1\.2/);
});

t.test('sigil check exits 1 on the weak endpoint, 0 on the strong one, 2 on warnings under --strict', async (t) => {
  const weak = await runSigil(['check', '--offline', '--endpoint', `localhost:${weakPort}`, '--ca', ca, '--json']);
  t.equal(weak.code, 1, weak.stderr);
  t.ok((JSON.parse(weak.stdout) as { severity: string }[]).some((f) => f.severity === 'error'));
  const strong = await runSigil(['check', '--offline', '--endpoint', `localhost:${strongPort}`, '--ca', ca]);
  t.equal(strong.code, 0, strong.stdout + strong.stderr);
  t.match(strong.stdout, /TLS grade A\+/);
  const plain = ['check', '--offline', '--endpoint', `localhost:${plainPort}`, '--ca', ca];
  t.equal((await runSigil(plain)).code, 0, 'warnings alone pass');
  const strict = await runSigil([...plain, '--strict']);
  t.equal(strict.code, 2, strict.stderr);
  t.match(strict.stdout, /WARNING compliance tls\.no-tls13/);
  t.match(strict.stdout, /WARNING compliance http\.no-hsts/);
  // The strong endpoint without its CA: the chain does not verify, which is critical.
  const untrusted = await runSigil(['check', '--offline', '--strict', '--endpoint', `localhost:${strongPort}`]);
  t.equal(untrusted.code, 1);
});

t.test('an unreachable, unresolvable, hanging or non-TLS endpoint is one clear line', async (t) => {
  const closed = await freePort();
  // A port that accepts and never answers, and one that answers in plain text.
  const hanging = createServer(() => {});
  const talking = createServer((s) => s.end('220 smtp.example.com ESMTP\r\n'));
  for (const s of [hanging, talking]) {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      s.close();
    });
  }
  const port = (s: typeof hanging) => (s.address() as AddressInfo).port;
  const cases: [string, RegExp][] = [
    [`127.0.0.1:${port(hanging)}`, /no TLS answer within 500 ms/],
    [`127.0.0.1:${port(talking)}`, /no TLS handshake succeeded .*is this a TLS port/],
    [`127.0.0.1:${closed}`, /connection was refused/],
    ['no-such-host.invalid:443', /does not resolve/],
    ['localhost', /is not an endpoint: give HOST:PORT/],
  ];
  for (const [endpoint, message] of cases) {
    const r = await runSigil(['tls', 'check', endpoint, '--timeout', '500ms']);
    t.equal(r.code, 1, endpoint);
    t.match(r.stderr, message, endpoint);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
