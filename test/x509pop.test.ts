import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { type Child, sigil } from './fixtures/processes.ts';

// Issue 20, point 2b: x509pop as SPIRE defines it. Machines holding a certificate from the operator's device CA (made
// here by openssl) prove possession of its key and get the SPIFFE ID the cp.yaml template derives from it: no join
// token per replica. Sidecars are real processes; the refusals are a foreign CA, a key the sidecar does not hold
// and a certificate for which the template gives an invalid ID.
const TD = 'example.org';
const devices = await mkdtemp(join(tmpdir(), 'sigil-x509pop-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: devices, stdio: 'pipe' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
await writeFile(join(devices, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');

function makeCa(name: string): void {
  openssl('req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}
async function makeDevice(name: string, ca: string, cn: string): Promise<void> {
  openssl('req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Example/CN=${cn}`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'leaf.ext',
    '-out',
    `${name}.pem`,
  );
  await chmod(join(devices, `${name}.key`), 0o600);
}
makeCa('device-ca');
makeCa('other-ca');
await makeDevice('device-1', 'device-ca', 'device-1');
await makeDevice('device-2', 'device-ca', 'device-2');
await makeDevice('rogue', 'other-ca', 'device-3');
await makeDevice('bad-name', 'device-ca', 'bad name');
// The device-1 certificate with device-2's key: the sidecar cannot prove possession of device-1's key.
await copyFile(join(devices, 'device-2.key'), join(devices, 'stolen.key'));
await chmod(join(devices, 'stolen.key'), 0o600);

const cp = await startControlPlane({
  trustDomain: TD,
  configYaml: [
    'attestation:',
    '  x509pop:',
    `    caBundle: ${join(devices, 'device-ca.pem')}`,
    '    spiffeIdTemplate: "spiffe://{{ .TrustDomain }}/host/{{ .Subject.CommonName }}"',
  ].join('\n'),
});
const children: Child[] = [];
t.teardown(async () => {
  for (const c of children) await c.stop();
  await cp.stop();
  await rm(devices, { recursive: true, force: true });
});

async function sidecar(name: string, spiffeId: string, cert: string, key: string): Promise<Child> {
  const config = join(cp.dataDir, `${name}.yaml`);
  await writeFile(
    config,
    [
      `spiffeId: ${spiffeId}`,
      `controlPlane: { address: "${cp.grpcAddress}", bundle: ./bundle.pem }`,
      `x509pop: { certFile: ${join(devices, `${cert}.pem`)}, keyFile: ${join(devices, `${key}.key`)} }`,
      'admin: { listen: 127.0.0.1:0 }',
      'retry: { maxBackoff: 1s }',
    ].join('\n'),
  );
  const c = sigil(['sidecar', 'run', '--config', config], { env: { SIGIL_LOG_LEVEL: 'info' } });
  children.push(c);
  return c;
}

t.test('two devices attest by x509pop without a token and get their templated IDs', async (t) => {
  const one = await sidecar('one', `spiffe://${TD}/host/device-1`, 'device-1', 'device-1');
  const two = await sidecar('two', `spiffe://${TD}/host/device-2`, 'device-2', 'device-2');
  for (const [c, cn] of [
    [one, 'device-1'],
    [two, 'device-2'],
  ] as const) {
    const started = await c.waitForMessage('sidecar started');
    t.equal(started['spiffe_id'], `spiffe://${TD}/host/${cn}`);
  }
  const certs = await cp.admin.listCertificates({});
  for (const cn of ['device-1', 'device-2'])
    t.ok(
      certs.certificates?.some((c) => c.spiffeId === `spiffe://${TD}/host/${cn}` && c.kind === 'svid'),
      `an SVID for ${cn} is on record`,
    );
  t.equal((await cp.admin.listJoinTokens()).tokens?.length ?? 0, 0, 'no join token was needed');
});

t.test('refusals: another CA, a key the sidecar does not hold, a template giving an invalid ID', async (t) => {
  const rogue = await sidecar('rogue', `spiffe://${TD}/host/device-3`, 'rogue', 'rogue');
  const foreign = await rogue.waitFor((l) => l['err_code'] === 'SIGIL_ERR_TOKEN_INVALID', 'foreign CA refused');
  t.match(foreign['error'], /does not chain to attestation\.x509pop\.caBundle/);
  await rogue.stop();

  const thief = await sidecar('thief', `spiffe://${TD}/host/device-1`, 'device-1', 'stolen');
  const stolen = await thief.waitFor((l) => l['err_code'] === 'SIGIL_ERR_TOKEN_INVALID', 'signature refused');
  t.match(stolen['error'], /does not verify with the certificate's key/);
  await thief.stop();

  const bad = await sidecar('bad', `spiffe://${TD}/host/bad-name`, 'bad-name', 'bad-name');
  const invalid = await bad.waitFor((l) => l['err_code'] === 'SIGIL_ERR_SPIFFE_ID_INVALID', 'invalid ID refused');
  t.match(invalid['error'], /template gives "spiffe:\/\/example\.org\/host\/bad name"/);
  await bad.stop();

  const certs = await cp.admin.listCertificates({});
  t.notOk(
    certs.certificates?.some((c) => /device-3|bad/.test(c.spiffeId ?? '')),
    'nothing was issued for the refused devices',
  );
});
