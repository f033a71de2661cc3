import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCli } from '../cli/program.ts';
import { signBody } from '../control-plane/lifecycle/webhook-sender.ts';
import { freePort } from './fixtures/nats-server.ts';
import { openssl, startNginx } from './fixtures/nginx.ts';
import { type Child, runSigil, sigil } from './fixtures/processes.ts';

// Issue 12, "done when": certificates imported (PEM chain, DER, PKCS#12 with a password file) and discovered from a
// real nginx into a running control plane's inventory; `certs list --expiring 30d --json` returns exactly those
// expiring within 30 days across every source; bad inputs are one line each and record nothing.

const env: Record<string, string | undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('SIGIL_'))
    .map((k) => [k, undefined]),
);
env['SIGIL_CA_PASSPHRASE'] = 'lifecycle test CA passphrase';

const dir = await mkdtemp(join(tmpdir(), 'sigil-inventory-'));
const children: Child[] = [];
t.teardown(async () => {
  for (const child of children) await child.stop();
  await rm(dir, { recursive: true, force: true });
});

async function cli(t: Test, args: string[], expectCode = 0) {
  const r = { code: 0, stdout: '', stderr: '' };
  r.code = await runCli([...args, '--data-dir', 'data'], {
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

// Certificates as operators have them, made by openssl: an edge chain (20 days), a database certificate as DER
// (60 days), an app bundle as PKCS#12 with a password (10 days), and nginx's own (8 days).
const ssl = (args: string[]) => openssl(dir, args);
await writeFile(join(dir, 'ext'), 'subjectAltName=DNS:localhost\n');
await ssl([
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
  '/CN=Org CA',
  '-days',
  '900',
]);
async function leaf(name: string, cn: string, days: number) {
  await writeFile(join(dir, `${name}.ext`), `subjectAltName=DNS:${cn}\n`);
  await ssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  await ssl([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-out',
    `${name}.pem`,
    '-days',
    String(days),
    '-extfile',
    `${name}.ext`,
  ]);
}
await leaf('edge', 'www.example.com', 20);
await leaf('db', 'db.example.com', 60);
await leaf('app', 'app.example.com', 10);
// 8 days: long-lived (7 days or more), so it alerts by days left, not by the SVID rule.
await leaf('nginx', 'localhost', 8);
await writeFile(
  join(dir, 'edge-chain.pem'),
  (await readFile(join(dir, 'edge.pem'), 'utf8')) + (await readFile(join(dir, 'ca.pem'), 'utf8')),
);
await ssl(['x509', '-in', 'db.pem', '-outform', 'DER', '-out', 'db.der']);
await writeFile(join(dir, 'p12-password'), 'bundle secret\n', { mode: 0o600 });
await ssl([
  'pkcs12',
  '-export',
  '-in',
  'app.pem',
  '-inkey',
  'app.key',
  '-out',
  'app.p12',
  '-passout',
  'file:p12-password',
]);
await writeFile(
  join(dir, 'nginx-chain.pem'),
  (await readFile(join(dir, 'nginx.pem'), 'utf8')) + (await readFile(join(dir, 'ca.pem'), 'utf8')),
);

const nginxPort = await freePort();
const nginx = await startNginx(join(dir, 'nginx'), [
  {
    port: nginxPort,
    certFile: join(dir, 'nginx-chain.pem'),
    keyFile: join(dir, 'nginx.key'),
    directives: 'ssl_protocols TLSv1.2 TLSv1.3;',
  },
]);
t.teardown(() => nginx.stop());

// A webhook receiver for the control plane's alerts: it checks nothing itself, the test reads what it got.
const hookBodies: { body: string; signature: string }[] = [];
let onHook: (() => void) | undefined;
const hook = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (c: string) => (body += c));
  req.on('end', () => {
    hookBodies.push({ body, signature: String(req.headers['x-sigil-signature']) });
    res.writeHead(204).end();
    onHook?.();
  });
});
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => hook.close(() => resolve())));
await writeFile(join(dir, 'hook-secret'), 'inventory hook secret\n', { mode: 0o600 });

await runSigil(['ca', 'init', '--trust-domain', 'example.org', '--data-dir', 'data'], { env, cwd: dir });
await writeFile(
  join(dir, 'cp.yaml'),
  `dataDir: ./data
listen: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }
alerts:
  every: 500ms
  webhooks: [{ url: 'http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook', secretFile: hook-secret }]
`,
);
const controlPlane = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env, cwd: dir });
children.push(controlPlane);
await controlPlane.waitForMessage('control plane started');

interface Row {
  serial: string;
  source: string;
  name: string;
  owner: string;
  status: string;
  notAfter: string;
  labels: Record<string, string>;
  seen: { location: string }[];
  chainLength: number;
  keyType: string;
}
const list = async (t: Test, ...args: string[]) =>
  JSON.parse((await cli(t, ['certs', 'list', '--json', ...args])).stdout) as Row[];

t.test('bad inputs are one line naming the file, and record nothing', async (t) => {
  await writeFile(join(dir, 'notes.txt'), 'not a certificate\n');
  await writeFile(join(dir, 'cut.pem'), (await readFile(join(dir, 'edge.pem'), 'utf8')).slice(0, 300));
  await writeFile(
    join(dir, 'with-key.pem'),
    (await readFile(join(dir, 'edge.pem'), 'utf8')) + (await readFile(join(dir, 'edge.key'), 'utf8')),
  );
  const before = await list(t);
  const cases: [string[], RegExp][] = [
    [['notes.txt'], /notes\.txt: is neither PEM, DER nor PKCS#12/],
    [['edge-chain.pem', 'cut.pem'], /cut\.pem: a PEM block is truncated/],
    [['with-key.pem'], /with-key\.pem: holds a private key: Sigil never reads or stores keys/],
    [['app.p12'], /app\.p12: the PKCS#12 file is password-protected: give the password with --password-file/],
    [['missing.pem'], /missing\.pem: cannot read it \(ENOENT\)/],
  ];
  for (const [files, message] of cases) {
    const r = await cli(t, ['certs', 'import', ...files], 1);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const unreachable = await cli(t, ['certs', 'discover', `127.0.0.1:${await freePort()}`], 1);
  t.match(unreachable.stderr, /connection was refused/);
  t.same(await list(t), before, 'the inventory is unchanged');
});

t.test('import PEM chain, DER and PKCS#12, discover nginx; list filters across sources', async (t) => {
  const chain = await cli(t, ['certs', 'import', 'edge-chain.pem', '--owner', 'edge-team', '--label', 'env=prod']);
  t.match(chain.stdout, /imported .* www\.example\.com/);
  await cli(t, ['certs', 'import', 'db.der', '--owner', 'data-team']);
  await cli(t, ['certs', 'import', 'app.p12', '--password-file', 'p12-password']);
  const found = await cli(t, ['certs', 'discover', `localhost:${nginxPort}`, '--owner', 'web']);
  t.match(found.stdout, /discovered .* localhost/);

  const all = await list(t);
  const bySource = (s: string) =>
    all
      .filter((r) => r.source === s)
      .map((r) => r.name)
      .sort();
  t.same(bySource('imported'), ['CN=Org CA', 'app.example.com', 'db.example.com', 'www.example.com']);
  t.same(bySource('discovered'), ['localhost']);
  t.ok(bySource('issued').length >= 4, "the CA's own certificates are there too");
  const edge = all.find((r) => r.name === 'www.example.com');
  t.match(edge, { owner: 'edge-team', labels: { env: 'prod' }, chainLength: 1, status: 'active', keyType: 'ec-p256' });
  t.match(edge?.seen[0]?.location, /edge-chain\.pem$/);
  t.equal(all.find((r) => r.name === 'localhost')?.seen[0]?.location, `localhost:${nginxPort}`);

  const in30 = Date.now() + 30 * 86_400_000;
  const expected = all
    .filter((r) => Date.parse(r.notAfter) > Date.now() && Date.parse(r.notAfter) <= in30)
    .map((r) => r.serial)
    .sort();
  const expiring = await list(t, '--expiring', '30d');
  t.same(expiring.map((r) => r.serial).sort(), expected, '--expiring 30d is exactly those within 30 days');
  for (const name of ['www.example.com', 'app.example.com', 'localhost'])
    t.ok(
      expiring.some((r) => r.name === name),
      `${name} is expiring`,
    );
  t.notOk(
    expiring.some((r) => r.name === 'db.example.com' || r.name === 'CN=Org CA'),
    'the 60- and 900-day ones are not',
  );

  t.same(
    (await list(t, '--source', 'discovered')).map((r) => r.name),
    ['localhost'],
  );
  t.same((await list(t, '--label', 'env=prod')).map((r) => r.name).sort(), ['CN=Org CA', 'www.example.com']);
  t.same(
    (await list(t, '--owner', 'data-team')).map((r) => r.name),
    ['db.example.com'],
  );
  const csv = (await cli(t, ['certs', 'list', '--csv', '--source', 'imported'])).stdout.trim().split('\n');
  t.equal(csv[0], 'id,source,status,serial,name,subject,owner,notBefore,notAfter,keyType,signatureAlgorithm');
  t.equal(csv.length, 5, 'a header and four rows');
  const bad = await cli(t, ['certs', 'list', '--status', 'lost'], 1);
  t.match(bad.stderr, /unknown status "lost": use one of active, superseded, revoked, expired/);
});

t.test('certs label sets owner and labels of an issued certificate, shown and filterable in certs list', async (t) => {
  const issued = (await list(t, '--source', 'issued')).find((r) => r.status === 'active');
  if (!issued) throw new Error('no active issued certificate to label');
  t.same([issued.owner, issued.labels], ['', {}], 'issued certificates start without owner or labels');
  const done = await cli(t, [
    'certs',
    'label',
    issued.serial,
    '--owner',
    'platform-team',
    '--label',
    'env=prod',
    '--label',
    'tier=1',
  ]);
  t.match(done.stdout, new RegExp(`labelled ${issued.serial} .*: owner platform-team, labels env=prod tier=1`));
  const mine = await list(t, '--owner', 'platform-team');
  t.same(
    mine.map((r) => r.serial),
    [issued.serial],
    '--owner finds it',
  );
  t.same(mine[0]?.labels, { env: 'prod', tier: '1' });
  t.ok(
    (await list(t, '--label', 'tier=1')).some((r) => r.serial === issued.serial),
    '--label finds it',
  );
  const table = (await cli(t, ['certs', 'list', '--source', 'issued'])).stdout;
  t.match(table, new RegExp(`${issued.serial} .*platform-team`), 'the table shows the owner');

  await cli(t, ['certs', 'label', issued.serial, '--label', 'tier=']);
  const after = (await list(t, '--owner', 'platform-team'))[0];
  t.same(after?.labels, { env: 'prod' }, 'KEY= removes a label and keeps the owner');

  const unknown = await cli(t, ['certs', 'label', 'abcdef0123', '--owner', 'x'], 1);
  t.match(unknown.stderr, /no certificate with id or serial abcdef0123 in the inventory/);
  const empty = await cli(t, ['certs', 'label', issued.serial], 1);
  t.match(empty.stderr, /nothing to set: give --owner and\/or --label/);
});

t.test('alerts fire for the certificates near expiry, reach the webhook signed, and are listed', async (t) => {
  // Imported above: www (20 days), app (10 days) and nginx's (8 days) are inside the thresholds.
  const wanted = ['www.example.com', 'app.example.com', 'localhost'];
  const names = () => hookBodies.map((h) => (JSON.parse(h.body) as { alert: { subject: string } }).alert.subject);
  await new Promise<void>((resolve) => {
    onHook = () => {
      if (wanted.every((w) => names().some((n) => n.includes(w)))) resolve();
    };
    onHook();
  });
  for (const h of hookBodies) t.equal(h.signature, signBody('inventory hook secret', h.body), 'signed');
  const alerts = JSON.parse((await cli(t, ['alerts', 'list', '--json'])).stdout) as {
    threshold: string;
    severity: string;
    subject: string;
    deliveries: { outcome: string }[];
  }[];
  const of = (cn: string) => alerts.find((a) => a.subject === `CN=${cn}`);
  t.match(of('www.example.com'), { threshold: 'days-30', severity: 'warning' });
  t.match(of('app.example.com'), { threshold: 'days-14', severity: 'warning' });
  t.match(of('localhost'), { threshold: 'days-14', severity: 'warning' });
  t.ok(
    of('localhost')?.deliveries.some((d) => d.outcome === 'delivered'),
    'the delivery is listed',
  );
  t.notOk(of('db.example.com'), 'nothing for the 60-day certificate');
});

t.test('sigil check reports inventory compliance and exits 1 on a critical finding', async (t) => {
  const clean = await cli(t, ['check']);
  t.notMatch(clean.stdout, /ERROR/);
  await ssl([
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
    '/CN=legacy.example.com',
    '-days',
    '30',
    '-sha1',
    '-addext',
    'basicConstraints=CA:false',
  ]);
  await cli(t, ['certs', 'import', 'weak.pem', '--owner', 'legacy']);
  const r = await cli(t, ['check', '--json'], 1);
  const findings = JSON.parse(r.stdout) as { severity: string; check: string; message: string }[];
  const checks = findings.filter((f) => f.severity !== 'ok').map((f) => f.check);
  for (const rule of [
    'compliance key.rsa-weak',
    'compliance signature.weak-hash',
    'compliance leaf.self-signed',
    'compliance san.missing',
  ])
    t.ok(checks.includes(rule), rule);
});
