import { readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { parseX509Facts } from '../common/x509-facts.ts';
import { pemCertificatesToDer } from '../common/trust-bundle.ts';
import { certificate, startAcmeWorld } from './fixtures/acme-fixture.ts';
import { makeCert } from './fixtures/cert-factory.ts';
import { freePort } from './fixtures/nats-server.ts';

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
  reload: {
    command: ['/bin/sh', '-c', `echo "$SIGIL_ACME_CERT_NAME $SIGIL_ACME_SERIAL" >> ${world.dir}/reload.log`],
    timeout: 10_000,
  },
});
world.certificates.push(web);

t.test(
  "http-01 on Sigil's listener: obtained, installed atomically, reloaded, verifiable, in the inventory",
  async (t) => {
    const outcomes = await world.service.runOnce();
    t.same(
      outcomes.map((o) => [o.name, o.result, o.error?.message]),
      [['web', 'renewed', undefined]],
    );
    const dir = web.install.dir;
    const leaf = await installedSerial(dir);
    t.same([...leaf.dnsSans].sort(), ['web.example.test', 'www.example.test'], 'both names');
    t.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600, 'key is 0600');
    t.equal(await readlink(join(dir, 'current')), `versions/${leaf.serial}`, 'current points at the new version');
    t.match(await world.opensslVerify(dir), /cert\.pem: OK/, "openssl verify against pebble's root");
    t.equal(await readFile(join(world.dir, 'reload.log'), 'utf8'), `web ${leaf.serial}\n`, 'reload hook ran once');
    const record = await world.store.getCertificate(leaf.serial);
    t.equal(record?.kind, 'acme');
    t.equal(record?.status, 'active');
    const [status] = await world.service.status('web');
    t.equal(status?.state.current?.serial, leaf.serial);
    t.match(status?.state.current?.orderUrl, /^https:\/\/127\.0\.0\.1:\d+\//, 'order URL kept');
    t.equal(status?.basis, 'lifetime', 'pebble 2.4 offers no ARI: the lifetime rule applies');
  },
);

t.test("tls-alpn-01 on Sigil's listener (RFC 8737)", async (t) => {
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

t.test('a CA unreachable while nothing is due is not a failed renewal', async (t) => {
  const [before] = await world.service.status('web');
  const pebbleAccount = world.accounts[0]!;
  world.accounts[0] = { ...pebbleAccount, directory: `https://127.0.0.1:${await freePort()}/dir` };
  t.teardown(() => {
    world.accounts[0] = pebbleAccount;
  });
  const outcome = (await world.service.runOnce()).find((o) => o.name === 'web');
  t.equal(outcome?.result, 'not-due');
  const [after] = await world.service.status('web');
  t.equal(after?.state.failures, before?.state.failures, 'no failure counted, no backoff, no alert');
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
  t.match(error, {
    code: 'SIGIL_ERR_ACME_CHALLENGE_FAILED',
    details: { identifier: 'www.example.test', challenge: 'http-01' },
  });
  t.match((error as Error).message, /http-01 validation of www\.example\.test \(certificate web\) failed: connection/);
  t.equal((await installedSerial(web.install.dir)).serial, before.serial, 'the old certificate stays installed');
  t.equal(await readFile(join(web.install.dir, 'key.pem'), 'utf8'), keyBefore, 'and its key');
  const [status] = await world.service.status('web');
  t.equal(status?.state.failures, 1, 'the failure is counted for backoff');
  t.equal(status?.state.lastError?.code, 'SIGIL_ERR_ACME_CHALLENGE_FAILED');
});

t.test('a failing reload hook puts the previous certificate back and is retried without a new order', async (t) => {
  const before = await installedSerial(web.install.dir);
  const marker = join(world.dir, 'reload-ok');
  const index = world.certificates.indexOf(web);
  world.certificates[index] = { ...web, reload: { command: ['/bin/sh', '-c', `test -e ${marker}`], timeout: 10_000 } };
  t.teardown(() => {
    world.certificates[index] = web;
  });
  const acmeBefore = (await world.store.listCertificates({ kind: 'acme', spiffeId: 'web.example.test' })).length;
  const error = await world.service.renew('web', { force: true }).catch((e: unknown) => e);
  t.match(error, { code: 'SIGIL_ERR_ACME_RELOAD_FAILED' });
  t.equal(
    (await installedSerial(web.install.dir)).serial,
    before.serial,
    'the previous certificate is back in service',
  );
  const [failed] = await world.service.status('web');
  const pending = failed?.state.pending?.serial;
  t.ok(pending && pending !== before.serial, 'the new certificate is staged');
  t.ok(await stat(join(web.install.dir, 'versions', pending!, 'key.pem')), 'staged files complete');
  t.equal(
    (await world.store.listCertificates({ kind: 'acme', spiffeId: 'web.example.test' })).length,
    acmeBefore + 1,
    'issued: in the inventory',
  );

  await writeFile(marker, '');
  world.clock.advance(failed!.state.failures * 60_000);
  const outcome = (await world.service.runOnce()).find((o) => o.name === 'web');
  t.equal(outcome?.result, 'renewed');
  t.equal((await installedSerial(web.install.dir)).serial, pending, 'the staged certificate went into service');
  t.equal(
    (await world.store.listCertificates({ kind: 'acme', spiffeId: 'web.example.test' })).length,
    acmeBefore + 1,
    'no second order',
  );
  const [done] = await world.service.status('web');
  t.equal(done?.state.failures, 0);
});

t.test('revocation through ACME, reason keyCompromise', async (t) => {
  const [before] = await world.service.status('alpn');
  const serial = before!.state.current!.serial;
  const status = await world.service.revoke('alpn', 'keyCompromise');
  t.equal(status.state.revoked?.serial, serial);
  const answer = await world.pebble.management(`/cert-status-by-serial/${serial}`);
  t.equal(answer.status, 200);
  t.match(JSON.parse(answer.body), { Status: 'Revoked', Reason: 1 }, 'pebble has it revoked');
  t.equal((await world.store.getCertificate(serial))?.status, 'revoked', 'inventory');
  const outcome = (await world.service.runOnce()).find((o) => o.name === 'alpn');
  t.equal(outcome?.result, 'renewed', 'a revoked certificate is replaced at the next check');
  t.not((await installedSerial(before!.spec.install.dir)).serial, serial);
  await t.rejects(world.service.revoke('alpn', 'notAReason'), { code: 'SIGIL_ERR_INVALID_ARGUMENT' });
});

t.test('account key rollover: the account keeps its URL and orders with the new key', async (t) => {
  const metaBefore = await world.store.getMeta('acme.account.pebble');
  const { accountUrl } = await world.service.rollover('pebble');
  const metaAfter = await world.store.getMeta('acme.account.pebble');
  t.equal(JSON.parse(metaAfter!).url, accountUrl);
  t.equal(JSON.parse(metaBefore!).url, accountUrl, 'same account');
  t.not(JSON.parse(metaAfter!).encryptedKeyPem, JSON.parse(metaBefore!).encryptedKeyPem, 'new key stored');
  t.match(JSON.parse(metaAfter!).encryptedKeyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, 'encrypted at rest');
  t.equal((await world.service.renew('wild', { force: true })).result, 'renewed', 'ordering works with the new key');
});

t.test('bad declarations and faults are reported clearly and change nothing installed', async (t) => {
  const profiled = certificate(world, {
    name: 'profiled',
    names: ['profiled.example.test'],
    challenge: { type: 'http-01' },
    profile: 'shortlived',
  });
  const webroot = certificate(world, {
    name: 'webroot',
    names: ['webroot.example.test'],
    challenge: { type: 'http-01', webroot: join(world.dir, 'webroot-is-a-file') },
  });
  const hookless = certificate(world, {
    name: 'hookless',
    names: ['hookless.example.test'],
    challenge: { type: 'dns-01', hook: [join(world.dir, 'missing-hook')], propagation: 0, timeout: 5_000 },
  });
  await writeFile(join(world.dir, 'webroot-is-a-file'), 'not a directory');
  world.certificates.push(profiled, webroot, hookless);
  t.teardown(() => {
    world.certificates.splice(world.certificates.indexOf(profiled), 3);
  });
  await t.rejects(world.service.renew('profiled', { force: true }), {
    code: 'SIGIL_ERR_ACME_UNSUPPORTED',
    message: /profile shortlived, but the server advertises no profiles/,
  });
  await t.rejects(world.service.renew('webroot', { force: true }), {
    code: 'SIGIL_ERR_ACME_CHALLENGE_SETUP',
    message: /cannot write the http-01 answer for webroot\.example\.test into webroot .*webroot-is-a-file \(ENOTDIR\)/,
  });
  await t.rejects(world.service.renew('hookless', { force: true }), {
    code: 'SIGIL_ERR_ACME_CHALLENGE_SETUP',
    message: /dns-01 hook failed to present the TXT record _acme-challenge\.hookless\.example\.test\. .*does not exist/,
  });
  await t.rejects(world.service.renew('nope', { force: true }), { code: 'SIGIL_ERR_NOT_FOUND' });
});

t.test('an unreachable or rate-limiting ACME server: clear errors, backoff and Retry-After honoured', async (t) => {
  const port = await freePort();
  const limiter = await makeCert({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], extKeyUsage: ['serverAuth'] });
  const caFile = join(world.dir, 'limiter.pem');
  await writeFile(caFile, limiter.pem);
  const server = createServer({ cert: limiter.pem, key: limiter.key.keyPem }, (_req, res) => {
    res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '600' });
    res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const limitedUrl = `https://127.0.0.1:${(server.address() as { port: number }).port}/dir`;
  world.accounts.push(
    { ...world.account, name: 'down', directory: `https://127.0.0.1:${port}/dir`, caFile: undefined },
    { ...world.account, name: 'limited', directory: limitedUrl, caFile },
  );
  const down = certificate(world, {
    name: 'down',
    account: 'down',
    names: ['down.example.test'],
    challenge: { type: 'http-01' },
  });
  const limited = certificate(world, {
    name: 'limited',
    account: 'limited',
    names: ['limited.example.test'],
    challenge: { type: 'http-01' },
  });
  world.certificates.push(down, limited);
  t.teardown(() => {
    world.certificates.splice(world.certificates.indexOf(down), 2);
    world.accounts.splice(1, 2);
  });
  await t.rejects(world.service.renew('down', { force: true }), {
    code: 'SIGIL_ERR_ACME_UNREACHABLE',
    message: /unreachable \(ECONNREFUSED on GET https:\/\/127\.0\.0\.1:\d+\/dir\)/,
  });
  await t.rejects(world.service.renew('limited', { force: true }), {
    code: 'SIGIL_ERR_ACME_RATE_LIMITED',
    message: /rate-limits this client .*too many new orders.*waits 600 s/,
  });
  const [state] = await world.service.status('limited');
  t.equal(state?.state.retryAfterAt, world.clock.now() + 600_000, 'Retry-After recorded');
  world.clock.advance(599_000);
  t.equal((await world.service.runOnce()).find((o) => o.name === 'limited')?.result, 'not-due', 'not before it');
  const [downState] = await world.service.status('down');
  t.equal(downState?.state.failures, 2, 'the check after the forced attempt counted too: backoff grows');
});

t.test('inside 7 days and still failing: one alert, resolved by the renewal', async (t) => {
  const wild = world.certificates.find((c) => c.name === 'wild')!;
  const index = world.certificates.indexOf(wild);
  const [status] = await world.service.status('wild');
  const notAfter = status!.state.current!.notAfter;
  world.certificates[index] = {
    ...wild,
    challenge: { type: 'dns-01', hook: [join(world.dir, 'no-hook')], propagation: 0, timeout: 5_000 },
  };
  world.clock.set(notAfter - 8 * 86_400_000);
  await world.service.runOnce();
  t.same(world.alerts, [], '8 days left: failing, but no alert yet');
  world.clock.set(notAfter - 6 * 86_400_000);
  await world.service.runOnce();
  t.equal(world.alerts.length, 1);
  t.match(world.alerts[0], {
    name: 'wild',
    state: 'firing',
    notAfter,
    failures: 2,
    message: /wild expires .* dns-01 hook/,
  });
  world.clock.advance(3_600_000);
  await world.service.runOnce();
  t.equal(world.alerts.length, 1, 'still failing: no second alert');
  world.certificates[index] = wild;
  world.clock.advance(4 * 3_600_000);
  t.equal((await world.service.runOnce()).find((o) => o.name === 'wild')?.result, 'renewed');
  t.match(world.alerts[1], { name: 'wild', state: 'resolved' });
});
