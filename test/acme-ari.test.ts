import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { pemCertificatesToDer } from '../common/trust-bundle.ts';
import { ariCertificateId } from '../control-plane/acme/renewal-info.ts';
import { certificate, startAcmeWorld } from './fixtures/acme-fixture.ts';
import { startAriProxy } from './fixtures/ari-proxy.ts';

// Renewal on ACME Renewal Information. Debian's pebble 2.4.0 has no renewalInfo endpoint and no profiles, so the
// ARI answers and the profile list come from a labelled test stub in front of it (fixtures/ari-proxy.ts); orders,
// validation (real http-01 against Sigil's listener) and issuance are pebble's.
const world = await startAcmeWorld();
const proxy = await startAriProxy(world.pebble, world.dir);
t.teardown(async () => {
  await proxy.close();
  await world.stop();
});
world.accounts.splice(0, 1, { ...world.account, directory: proxy.directoryUrl, caFile: proxy.caFile });

const ari = certificate(world, { name: 'ari', names: ['ari.example.test'], challenge: { type: 'http-01' } });
const short = certificate(world, {
  name: 'short',
  names: ['short.example.test'],
  challenge: { type: 'http-01' },
  profile: 'shortlived',
});
world.certificates.push(ari, short);

const installedDer = async (dir: string) => pemCertificatesToDer(await readFile(join(dir, 'cert.pem'), 'utf8'))[0]!;

t.test('first issuance: no replaces; the profile goes into the order', async (t) => {
  const outcomes = await world.service.runOnce();
  t.same(
    outcomes.map((o) => [o.name, o.result]),
    [
      ['ari', 'renewed'],
      ['short', 'renewed'],
    ],
  );
  t.equal(proxy.newOrders.length, 2);
  t.notOk('replaces' in proxy.newOrders[0]!, 'nothing to replace yet');
  t.equal(proxy.newOrders[1]!['profile'], 'shortlived');
});

t.test('renews at the random point the ARI window suggests, sending replaces', async (t) => {
  const oldDer = await installedDer(ari.install.dir);
  const certId = ariCertificateId(oldDer);
  const now = world.clock.now();
  proxy.windows.set(certId, { start: now + 3_600_000, end: now + 7_200_000, retryAfterSeconds: 1800 });
  const checksBefore = proxy.renewalInfoRequests.length;
  t.equal((await world.service.runOnce()).find((o) => o.name === 'ari')?.result, 'not-due');
  t.same(proxy.renewalInfoRequests.slice(checksBefore), [
    certId,
    ariCertificateId(await installedDer(short.install.dir)),
  ]);
  const [status] = await world.service.status('ari');
  t.equal(status?.basis, 'ari');
  t.equal(status?.renewAt, now + 5_400_000, 'the uniform draw (0.5 here) inside the window');

  world.clock.advance(1_000_000);
  await world.service.runOnce();
  t.equal(proxy.renewalInfoRequests.length, checksBefore + 2, 'Retry-After (30 min) honoured: not asked again yet');

  world.clock.set(now + 5_400_000);
  const ordersBefore = proxy.newOrders.length;
  t.equal((await world.service.runOnce()).find((o) => o.name === 'ari')?.result, 'renewed');
  const order = proxy.newOrders.slice(ordersBefore).find((o) => JSON.stringify(o).includes('ari.example.test'));
  t.equal(order?.['replaces'], certId, 'replaces names the certificate being renewed (RFC 9773 5)');
  t.not(ariCertificateId(await installedDer(ari.install.dir)), certId, 'a new certificate is installed');
  t.match(await world.opensslVerify(ari.install.dir), /OK/);
});

t.test('a window in the past (the CA wants it replaced now) renews at once', async (t) => {
  const certId = ariCertificateId(await installedDer(short.install.dir));
  const now = world.clock.now();
  proxy.windows.set(certId, { start: now - 7_200_000, end: now - 3_600_000, retryAfterSeconds: 60 });
  world.clock.advance(3_600_000);
  const outcome = (await world.service.runOnce()).find((o) => o.name === 'short');
  t.equal(outcome?.result, 'renewed');
  t.not(ariCertificateId(await installedDer(short.install.dir)), certId);
});

t.test('a profile the server does not offer is refused before ordering', async (t) => {
  const odd = certificate(world, {
    name: 'odd',
    names: ['odd.example.test'],
    challenge: { type: 'http-01' },
    profile: 'tlsclient',
  });
  world.certificates.push(odd);
  t.teardown(() => void world.certificates.pop());
  await t.rejects(world.service.renew('odd', { force: true }), {
    code: 'SIGIL_ERR_ACME_UNSUPPORTED',
    message: /profile tlsclient, which the server does not offer \(offered: classic, shortlived\)/,
  });
});
