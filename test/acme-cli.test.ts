import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runCli } from '../cli/program.ts';
import { silentLogger } from '../common/logger.ts';
import { ControlPlane, initCa, loadControlPlaneConfig } from '../control-plane/index.ts';
import { freePort } from './fixtures/nats-server.ts';
import { startPebble } from './fixtures/pebble.ts';

// The operator's path end to end: cp.yaml declares an account and a certificate, the control plane's loop obtains it,
// `sigil acme apply -f certs.yaml` adds another, and `sigil acme list|show|renew|revoke|rollover` go through the Admin
// API to a real pebble. Validation is real (http-01 on the control plane's own listener).
const PASSPHRASE = 'acme cli test passphrase';
const dir = await mkdtemp(join(tmpdir(), 'sigil-acme-cli-'));
const httpPort = await freePort();
const pebble = await startPebble({ httpPort, tlsPort: 1 });
t.teardown(async () => {
  await pebble.stop();
  await rm(dir, { recursive: true, force: true });
});
await initCa({
  dataDir: join(dir, 'data'),
  trustDomain: 'example.org',
  keyType: 'ec-p256',
  passphrase: PASSPHRASE,
  now: Date.now(),
});
await writeFile(
  join(dir, 'cp.yaml'),
  `dataDir: ./data
listen: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }
acme:
  http01: { listen: 127.0.0.1:${httpPort} }
  checkInterval: 1h
  accounts:
    - name: pebble
      directory: ${pebble.directoryUrl}
      contact: [mailto:ops@example.test]
      termsOfServiceAgreed: true
      caFile: ${pebble.listenerCaFile}
  certificates:
    - name: from-config
      account: pebble
      names: [config.example.test]
      challenge: { type: http-01 }
      install: { dir: ./installed/from-config }
`,
);
const config = loadControlPlaneConfig({ configPath: join(dir, 'cp.yaml'), cwd: dir, env: {} });
const controlPlane = new ControlPlane({ config, passphrase: PASSPHRASE }, { logger: silentLogger() });
await controlPlane.start();
t.teardown(() => controlPlane.stop());

async function sigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dir,
  };
  const code = await runCli([...args, '--data-dir', join(dir, 'data')], io);
  return { code, stdout, stderr };
}

t.test('the certificate declared in cp.yaml is obtained by the loop and shown', async (t) => {
  // Joins the loop's first pass if it is still running; then it is installed and not due.
  const renewed = await sigil(['acme', 'renew', 'from-config', '--json']);
  t.equal(renewed.code, 0, renewed.stderr);
  const shown = JSON.parse(renewed.stdout) as Record<string, unknown>;
  t.match(shown, { name: 'from-config', status: 'valid', source: 'config', renewalBasis: 'lifetime' });
  t.match(shown['orderUrl'], /^https:\/\/127\.0\.0\.1/);
  const cert = join(dir, 'installed', 'from-config', 'cert.pem');
  const { stdout } = await promisify(execFile)('openssl', ['x509', '-in', cert, '-noout', '-serial']);
  t.equal(stdout.trim().replace('serial=', '').toLowerCase(), shown['serial']);
});

t.test(
  'acme apply adds certificates; list, renew --force, revoke and rollover work through the Admin API',
  async (t) => {
    await writeFile(
      join(dir, 'certs.yaml'),
      `apiVersion: sigil.dev/v1
kind: AcmeCertificates
certificates:
  - name: applied
    account: pebble
    names: [applied.example.test]
    challenge: { type: http-01 }
    install: { dir: ./installed/applied }
    reload: { command: [/bin/sh, -c, "echo reloaded >> ${dir}/applied-reload.log"] }
`,
    );
    const applied = await sigil(['acme', 'apply', '-f', 'certs.yaml']);
    t.equal(applied.code, 0, applied.stderr);
    t.match(applied.stdout, /applied 0 account\(s\) and 1 certificate\(s\)/);

    const renewed = await sigil(['acme', 'renew', 'applied']);
    t.equal(renewed.code, 0, renewed.stderr);
    t.match(renewed.stdout, /status\s+valid/);
    t.equal(await readFile(join(dir, 'applied-reload.log'), 'utf8'), 'reloaded\n');

    const list = await sigil(['acme', 'list']);
    t.match(list.stdout, /^NAME\s+STATUS/);
    t.match(list.stdout, /from-config\s+valid/);
    t.match(list.stdout, /applied\s+valid/);

    const first = JSON.parse((await sigil(['acme', 'show', 'applied', '--json'])).stdout) as { serial: string };
    const forced = JSON.parse((await sigil(['acme', 'renew', 'applied', '--force', '--json'])).stdout) as {
      serial: string;
    };
    t.not(forced.serial, first.serial, '--force orders a new certificate');

    const revoked = await sigil(['acme', 'revoke', 'applied', '--reason', 'keyCompromise', '--json']);
    t.equal(revoked.code, 0, revoked.stderr);
    t.match(JSON.parse(revoked.stdout), { status: 'revoked', serial: forced.serial });
    const status = JSON.parse((await pebble.management(`/cert-status-by-serial/${forced.serial}`)).body);
    t.match(status, { Status: 'Revoked', Reason: 1 });

    const rolled = await sigil(['acme', 'rollover', 'pebble']);
    t.equal(rolled.code, 0, rolled.stderr);
    t.match(rolled.stdout, /account pebble \(https:\/\/127\.0\.0\.1:\d+\/.+\) now signs with a new key/);
  },
);

t.test('operator mistakes are refused with clear messages', async (t) => {
  const unknown = await sigil(['acme', 'show', 'nope']);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no ACME certificate named nope.*\[SIGIL_ERR_NOT_FOUND\]/);
  await writeFile(
    join(dir, 'bad.yaml'),
    `apiVersion: sigil.dev/v1
kind: AcmeCertificates
certificates:
  - name: from-config
    account: nobody
    names: [Not_A_Name]
    challenge: { type: tls-alpn-01 }
    install: { dir: /tmp/x }
`,
  );
  const bad = await sigil(['acme', 'apply', '-f', 'bad.yaml']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /bad\.yaml:6: certificates\.0\.names\.0: not a DNS name/);
  await writeFile(
    join(dir, 'clash.yaml'),
    `apiVersion: sigil.dev/v1
kind: AcmeCertificates
certificates:
  - name: from-config
    account: nobody
    names: [clash.example.test]
    challenge: { type: tls-alpn-01 }
    install: { dir: ./installed/from-config }
`,
  );
  const clashing = await sigil(['acme', 'apply', '-f', 'clash.yaml']);
  t.equal(clashing.code, 1);
  t.match(clashing.stderr, /\(3 findings\)/);
  t.match(clashing.stderr, /clash\.yaml:4: certificates\.0\.name: duplicate certificate from-config/);
  t.match(clashing.stderr, /clash\.yaml:5: certificates\.0\.account: unknown account nobody/);
  t.match(
    clashing.stderr,
    /clash\.yaml:8: certificates\.0\.install\.dir: .* is already the install directory of from-config/,
  );
  const again = await sigil(['acme', 'apply', '-f', 'certs.yaml']);
  t.equal(again.code, 0, 're-applying the same document is fine');
  const list = JSON.parse((await sigil(['acme', 'list', '--json'])).stdout) as { name: string }[];
  t.same(
    list.map((c) => c.name),
    ['from-config', 'applied'],
    'the refused document changed nothing',
  );
});
