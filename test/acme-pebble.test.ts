import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parseX509Facts } from '../common/x509-facts.ts';
import { pemCertificatesToDer } from '../common/trust-bundle.ts';
import { certificate, startAcmeWorld } from './fixtures/acme-fixture.ts';

// One pebble + pebble-challtestsrv for the file. Validation is real: pebble resolves every name through the mock
// DNS (127.0.0.1) and connects to the service's own http-01 and tls-alpn-01 listeners, or reads the TXT record the
// dns-01 hook put into the mock DNS.
const world = await startAcmeWorld();
t.teardown(() => world.stop());

const installedSerial = async (dir: string) => {
  const der = pemCertificatesToDer(await readFile(join(dir, 'cert.pem'), 'utf8'))[0]!;
  return parseX509Facts(der);
};

const web = certificate(world, {
  name: 'web',
  names: ['web.example.test', 'www.example.test'],
  challenge: { type: 'http-01' },
  reload: { command: ['/bin/sh', '-c', `echo "$SIGIL_ACME_CERT_NAME $SIGIL_ACME_SERIAL" >> ${world.dir}/reload.log`], timeout: 10_000 },
});
world.certificates.push(web);

t.test('http-01 on Sigil\'s listener: obtained, installed atomically, reloaded, verifiable, in the inventory', async (t) => {
  const outcomes = await world.service.runOnce();
  t.same(outcomes.map((o) => [o.name, o.result, o.error?.message]), [['web', 'renewed', undefined]]);
  const dir = web.install.dir;
  const leaf = await installedSerial(dir);
  t.same([...leaf.dnsSans].sort(), ['web.example.test', 'www.example.test'], 'both names');
  t.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600, 'key is 0600');
  t.equal(await readlink(join(dir, 'current')), `versions/${leaf.serial}`, 'current points at the new version');
  t.match(await world.opensslVerify(dir), /cert\.pem: OK/, 'openssl verify against pebble\'s root');
  t.equal(await readFile(join(world.dir, 'reload.log'), 'utf8'), `web ${leaf.serial}\n`, 'reload hook ran once');
  const record = await world.store.getCertificate(leaf.serial);
  t.equal(record?.kind, 'acme');
  t.equal(record?.status, 'active');
  const [status] = await world.service.status('web');
  t.equal(status?.state.current?.serial, leaf.serial);
  t.match(status?.state.current?.orderUrl, /^https:\/\/127\.0\.0\.1:\d+\//, 'order URL kept');
  t.equal(status?.basis, 'lifetime', 'pebble 2.4 offers no ARI: the lifetime rule applies');
});

t.test('tls-alpn-01 on Sigil\'s listener (RFC 8737)', async (t) => {
  const alpn = certificate(world, { name: 'alpn', names: ['alpn.example.test'], challenge: { type: 'tls-alpn-01' } });
  world.certificates.push(alpn);
  const outcome = await world.service.renew('alpn', { force: false });
  t.equal(outcome.result, 'renewed');
  t.match(await world.opensslVerify(alpn.install.dir), /OK/);
  t.same((await installedSerial(alpn.install.dir)).dnsSans, ['alpn.example.test']);
});

t.test('dns-01 through the operator hook, which drives the challenge test server', async (t) => {
  const dns = certificate(world, {
    name: 'wild',
    names: ['*.dns.example.test', 'dns.example.test'],
    challenge: { type: 'dns-01', hook: [world.dnsHook], propagation: 0, timeout: 10_000 },
  });
  world.certificates.push(dns);
  const outcome = await world.service.renew('wild', { force: false });
  t.equal(outcome.result, 'renewed');
  t.match(await world.opensslVerify(dns.install.dir), /OK/);
  t.same([...(await installedSerial(dns.install.dir)).dnsSans].sort(), ['*.dns.example.test', 'dns.example.test']);
});

t.test('renewal on the lifetime rule: not due until a third of the lifetime is left', async (t) => {
  const [before] = await world.service.status('web');
  const renewAt = before!.renewAt!;
  world.clock.set(renewAt - 60_000);
  t.same((await world.service.runOnce()).find((o) => o.name === 'web')?.result, 'not-due');
  world.clock.set(renewAt);
  const outcomes = await world.service.runOnce();
  t.equal(outcomes.find((o) => o.name === 'web')?.result, 'renewed');
  const after = await installedSerial(web.install.dir);
  t.not(after.serial, before!.state.current!.serial, 'a new certificate');
  t.equal((await world.store.getCertificate(before!.state.current!.serial))?.supersededBy, after.serial, 'lineage');
  t.ok(await stat(join(web.install.dir, 'versions', before!.state.current!.serial)), 'previous version kept');
});

t.test('a failing validation names the name, the type and the problem, and leaves the old certificate', async (t) => {
  const before = await installedSerial(web.install.dir);
  const keyBefore = await readFile(join(web.install.dir, 'key.pem'), 'utf8');
  // Point www at an address nothing listens on: pebble's connection fails.
  const set = await fetch(`${world.pebble.challtestsrvUrl}/add-a`, {
    method: 'POST',
    body: JSON.stringify({ host: 'www.example.test.', addresses: ['127.0.0.2'] }),
  });
  t.equal(set.status, 200);
  t.teardown(async () => {
    await fetch(`${world.pebble.challtestsrvUrl}/clear-a`, {
      method: 'POST',
      body: JSON.stringify({ host: 'www.example.test.' }),
    });
  });
  const error = await world.service.renew('web', { force: true }).catch((e: unknown) => e);
  t.match(error, { code: 'SIGIL_ERR_ACME_CHALLENGE_FAILED', details: { identifier: 'www.example.test', challenge: 'http-01' } });
  t.match((error as Error).message, /http-01 validation of www\.example\.test \(certificate web\) failed: connection/);
  t.equal((await installedSerial(web.install.dir)).serial, before.serial, 'the old certificate stays installed');
  t.equal(await readFile(join(web.install.dir, 'key.pem'), 'utf8'), keyBefore, 'and its key');
  const [status] = await world.service.status('web');
  t.equal(status?.state.failures, 1, 'the failure is counted for backoff');
  t.equal(status?.state.lastError?.code, 'SIGIL_ERR_ACME_CHALLENGE_FAILED');
});
