import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHostPort } from '../common/address.ts';
import { silentLogger } from '../common/logger.ts';
import { activateCaFiles } from '../control-plane/ca/ca-rotation-files.ts';
import { AdminApi, ControlPlane, resolveControlPlaneConfig } from '../control-plane/index.ts';
import type { Sidecar } from '../sidecar/index.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { echoServer, trafficLoad } from './fixtures/net.ts';
import { startNatsServer } from './fixtures/nats-server.ts';
import { run } from './fixtures/processes.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';
import {
  issuingCaSerial,
  rootsChangedTo,
  untilConnected,
  untilEvent,
  untilSvid,
  untilSvidIssuedBy,
} from './fixtures/sidecar-waits.ts';

// Issue 7: a full root rotation (prepare, activate, retire) under load, through two sidecars, with zero failed
// handshakes, zero dropped connections and no process restart; afterwards every SVID chains to the new root alone.

const TD = 'example.org';
const id = (name: string) => `spiffe://${TD}/ns/rot/sa/${name}`;

const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+/, '');

async function opensslVerify(
  dir: string,
  name: string,
  bundlePem: string,
  chainPem: string,
): Promise<{ code: number | null; out: string }> {
  const [leaf, ...rest] = chainPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
  await writeFile(join(dir, `${name}-ca.pem`), bundlePem);
  await writeFile(join(dir, `${name}-leaf.pem`), leaf ?? '');
  await writeFile(join(dir, `${name}-untrusted.pem`), rest.join(''));
  const r = await run('openssl', [
    'verify',
    '-CAfile',
    join(dir, `${name}-ca.pem`),
    '-untrusted',
    join(dir, `${name}-untrusted.pem`),
    join(dir, `${name}-leaf.pem`),
  ]);
  return { code: r.code, out: r.stdout + r.stderr };
}

t.test('full root rotation under load: no failed handshake, no dropped connection, no restart', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url] });
  const app = await echoServer();
  t.teardown(async () => {
    app.close();
    await cp.stop();
    await nats.stop();
  });
  const started: { sidecar: Sidecar; stop(): Promise<void> }[] = [];
  t.teardown(async () => {
    for (const s of started) await s.stop();
  });
  const sidecar = async (name: string, yaml: string[], withNats = true) => {
    const s = await startSidecar(cp, {
      spiffeId: id(name),
      yaml,
      ...(withNats ? { natsServers: [nats.url] } : { trustRefreshInterval: '1h' }),
    });
    started.push(s);
    return s;
  };
  const api = await sidecar('api', [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`]);
  const inbound = api.addresses.inbound[0]!;
  const web = await sidecar('web', [
    `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${inbound.port}", expect: ${id('api')} }`,
  ]);
  // No NATS and an hourly trust refresh: it hears of the activation order too late for this test and renews only
  // at half life, so it holds the old chain.
  await sidecar('batch', [], false);
  // A second instance of web (replicas share a SPIFFE ID), also cut off: its renewed twin must not hide it.
  const webReplica = await sidecar('web', [], false);
  const oldRootPem = await readFile(join(cp.dataDir, 'bundle.pem'), 'utf8');
  const startSerials = {
    api: api.sidecar.credentials.current!.material.serial,
    web: web.sidecar.credentials.current!.material.serial,
  };

  const load = trafficLoad(web.addresses.outbound[0]!.port, { longLivedCount: 4, workers: 3 });
  await load.more(20);

  // prepare: the new root reaches every connected sidecar's bundle; nothing signs with it yet.
  const prepared = await cp.admin.rotateCa({ step: 'prepare' });
  t.equal(prepared.status?.phase, 'prepared');
  t.equal(prepared.status?.bundle?.length, 2, 'the bundle holds the old and the new root');
  const newIntermediate = normalSerial(prepared.status?.next?.intermediate?.serial ?? '');
  const newRoot = prepared.status?.next?.root?.serial ?? '';
  t.not(newRoot, prepared.status?.current?.root?.serial, 'a new root, not an intermediate-only rotation');
  await Promise.all([rootsChangedTo(api.sidecar, 2), rootsChangedTo(web.sidecar, 2)]);
  await load.more(20);

  // activate: refused this soon after prepare unless the operator vouches that every sidecar has the new root.
  await t.rejects(cp.admin.rotateCa({ step: 'activate', windowMs: 3_000 }), {
    code: 'SIGIL_ERR_CA_ROTATION_STATE',
    message: /pushed \d+s ago[\s\S]*--force/,
  });
  t.equal((await cp.admin.showCa()).phase, 'prepared', 'the refused activation changed nothing');
  // Every sidecar reports two roots (awaited above): the new intermediate signs; every workload renews in the window.
  const activated = await cp.admin.rotateCa({ step: 'activate', windowMs: 3_000, force: true });
  t.equal(activated.status?.phase, 'activated');
  t.equal(normalSerial(activated.status?.current?.intermediate?.serial ?? ''), newIntermediate);
  const renewed = await Promise.all([api, web].map((s) => untilSvidIssuedBy(s.sidecar, newIntermediate)));
  t.not(renewed[0]!.serial, startSerials.api, 'api rotated');
  t.not(renewed[1]!.serial, startSerials.web, 'web rotated');
  const progress = await cp.admin.rotationStatus(activated.orderId);
  t.equal(progress.reason, 'ca-activate');
  t.same([...progress.rotated], [id('api')], 'the status counts api as rotated');
  t.same(
    [...progress.pending],
    [id('batch'), id('web')],
    'the sidecar without NATS and the web replica without NATS are pending',
  );
  t.notOk(progress.rotated.includes(id('web')), 'web is not rotated while one of its replicas is not');
  await load.more(20);

  // retire is refused while a live certificate chains to the old root, and says which.
  const refused = await cp.admin.rotateCa({ step: 'retire' });
  const replicaSerial = webReplica.sidecar.credentials.current!.material.serial.toLowerCase();
  t.same(
    refused.blockers.map((b) => b.spiffeId),
    [id('batch'), id('web')],
    'the blockers are listed, the un-renewed web replica among them',
  );
  t.equal(
    refused.blockers.find((b) => b.spiffeId === id('web'))?.serial,
    replicaSerial,
    'by its own certificate, not its renewed twin',
  );
  t.equal(refused.status?.phase, 'activated', 'nothing changed');
  t.equal(refused.status?.bundle?.length, 2);
  for (const b of refused.blockers) await cp.admin.revoke({ serial: b.serial, reason: 'superseded' });
  const retired = await cp.admin.rotateCa({ step: 'retire' });
  t.same(retired.blockers, []);
  t.equal(retired.status?.phase, 'stable');
  t.same(
    retired.status?.bundle?.map((r) => r.serial),
    [newRoot],
    'only the new root is left',
  );
  await Promise.all([rootsChangedTo(api.sidecar, 1), rootsChangedTo(web.sidecar, 1)]);
  await load.more(50);

  const result = await load.stop();
  t.same(
    result.failures.slice(0, 5),
    [],
    `no failed handshakes among ${result.newConnections + result.failures.length} new connections`,
  );
  t.equal(result.failures.length, 0);
  t.same(result.dropped, [], 'no dropped long-lived connection');

  // Every SVID chains to the new root alone, as openssl sees it; not to the old one.
  const newBundle = await readFile(join(cp.dataDir, 'bundle.pem'), 'utf8');
  t.equal(
    new X509Certificate(newBundle).serialNumber.toLowerCase().replace(/^0+/, ''),
    normalSerial(newRoot),
    'bundle.pem holds the new root',
  );
  for (const [name, s] of [
    ['api', api],
    ['web', web],
  ] as const) {
    const chain = s.sidecar.credentials.current!.material.certChainPem;
    const ok = await opensslVerify(cp.dataDir, name, newBundle, chain);
    t.equal(ok.code, 0, `${name}: openssl verify with the new bundle alone: ${ok.out.trim()}`);
    const old = await opensslVerify(cp.dataDir, `${name}-old`, oldRootPem, chain);
    t.not(old.code, 0, `${name}: the old root does not verify it`);
    // Issue 20: the README's line, with the data directory's own files, works after the rotation too.
    const leaf = join(cp.dataDir, `${name}-leaf.pem`);
    const readme = await run('openssl', [
      'verify',
      '-CAfile',
      join(cp.dataDir, 'bundle.pem'),
      '-untrusted',
      join(cp.dataDir, 'intermediate.pem'),
      leaf,
    ]);
    t.equal(readme.code, 0, `${name}: README's openssl verify line: ${readme.stdout}${readme.stderr}`);
  }
  t.equal(
    normalSerial(new X509Certificate(await readFile(join(cp.dataDir, 'root.pem'), 'utf8')).serialNumber),
    normalSerial(newRoot),
    'root.pem is the root in force',
  );
  // The admin credential was re-issued under the new CA, so the operator keeps working after retire.
  const admin = new AdminApi({ address: cp.grpcAddress, credentialsDir: join(cp.dataDir, 'admin') });
  t.teardown(() => admin.close());
  t.equal((await admin.showCa()).phase, 'stable', 'a fresh admin client authenticates with the re-issued admin SVID');
});

t.test('a prefix rotation order rotates exactly the sidecars under the prefix', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url] });
  t.teardown(async () => {
    await cp.stop();
    await nats.stop();
  });
  const names = {
    prodA: `spiffe://${TD}/ns/prod/sa/a`,
    prodB: `spiffe://${TD}/ns/prod/sa/b`,
    production: `spiffe://${TD}/ns/production/sa/c`,
    staging: `spiffe://${TD}/ns/staging/sa/d`,
  };
  const sidecars = Object.fromEntries(
    await Promise.all(
      Object.entries(names).map(async ([key, spiffeId]) => {
        const s = await startSidecar(cp, { spiffeId, natsServers: [nats.url] });
        t.teardown(s.stop);
        await untilConnected(s.sidecar);
        return [key, s.sidecar] as const;
      }),
    ),
  ) as Record<keyof typeof names, Sidecar>;
  // Under the prefix but without NATS: the order reaches it with the trust state it fetches every second.
  const grpcOnly = await startSidecar(cp, {
    spiffeId: `spiffe://${TD}/ns/prod/sa/grpc-only`,
    trustRefreshInterval: '1s',
  });
  t.teardown(grpcOnly.stop);
  const grpcOnlyBefore = grpcOnly.sidecar.credentials.current!.material.serial;
  const serialsBefore = Object.fromEntries(
    Object.entries(sidecars).map(([k, s]) => [k, s.credentials.current!.material.serial]),
  );
  const heard = (s: Sidecar) => untilEvent(s, (e) => e.type === 'event.received' && e.kind === 'rotate');
  const ignoredBy = [heard(sidecars.production), heard(sidecars.staging)];

  const order = await cp.admin.rotate({ prefix: `spiffe://${TD}/ns/prod/`, windowMs: 2_000 });
  t.equal(order.targetKind, 'prefix');
  t.same(
    [...order.targets].sort(),
    [names.prodA, names.prodB, `spiffe://${TD}/ns/prod/sa/grpc-only`],
    'the targets are the live identities under the prefix',
  );
  const rotated = await Promise.all(
    [sidecars.prodA, sidecars.prodB].map((s, i) =>
      untilSvid(s, (m) => m.serial !== serialsBefore[i === 0 ? 'prodA' : 'prodB']),
    ),
  );
  t.equal(rotated.length, 2, 'both prod sidecars renewed with a new key');
  await untilSvid(grpcOnly.sidecar, (m) => m.serial !== grpcOnlyBefore);
  t.pass('the sidecar without NATS rotated too, from the order in its trust refresh');
  await Promise.all(ignoredBy);
  for (const key of ['production', 'staging'] as const) {
    t.equal(
      sidecars[key].credentials.current!.material.serial,
      serialsBefore[key],
      `${key} received the order and kept its SVID`,
    );
    t.match(
      await sidecars[key].metrics.render({ revocationAgeMs: 0 }).then((m) => m.body),
      /sigil_rotation_orders_total\{result="not-targeted"\} 1/,
    );
  }
  const status = await cp.admin.rotationStatus(order.orderId);
  t.same([...status.rotated].sort(), [names.prodA, names.prodB, `spiffe://${TD}/ns/prod/sa/grpc-only`]);
  t.same([...status.pending], []);
  t.same([...status.failed], []);
});

t.test('intermediate-only rotation keeps the root; steps asked at once run one after the other', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url] });
  t.teardown(async () => {
    await cp.stop();
    await nats.stop();
  });
  const s = await startSidecar(cp, { spiffeId: id('solo'), natsServers: [nats.url] });
  t.teardown(s.stop);
  await untilConnected(s.sidecar);
  const before = await cp.admin.showCa();

  // Two prepares at once: one stages the rotation, the other finds it staged and changes nothing.
  const both = await Promise.allSettled([
    cp.admin.rotateCa({ step: 'prepare', intermediateOnly: true }),
    cp.admin.rotateCa({ step: 'prepare', intermediateOnly: true }),
  ]);
  t.equal(both.filter((r) => r.status === 'fulfilled').length, 1, 'one prepare succeeded');
  t.match(
    both.find((r) => r.status === 'rejected'),
    { reason: { code: 'SIGIL_ERR_CA_ROTATION_STATE' } },
    'the other was refused',
  );
  const prepared = await cp.admin.showCa();
  t.equal(prepared.phase, 'prepared');
  t.equal(prepared.intermediateOnly, true);
  t.same(
    prepared.bundle.map((r) => r.serial),
    before.bundle.map((r) => r.serial),
    'the bundle keeps its single root',
  );
  t.equal(prepared.next?.root?.serial, before.current?.root?.serial, 'the next CA has the same root');

  const activated = await cp.admin.rotateCa({ step: 'activate', windowMs: 1_000, force: true });
  await untilSvidIssuedBy(s.sidecar, activated.status?.current?.intermediate?.serial ?? '');
  const retired = await cp.admin.rotateCa({ step: 'retire' });
  t.same(retired.blockers, [], 'nothing blocks: the root stays');
  t.equal(retired.status?.phase, 'stable');
  t.equal(retired.status?.bundle?.length, 1);
  t.not(
    retired.status?.current?.intermediate?.serial,
    before.current?.intermediate?.serial,
    'a new intermediate is in force',
  );
});

t.test('an activation cut short after ca.json was committed is finished at the next start', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-cut-short-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const cp = await startControlPlane({ dataDir });
  await cp.admin.rotateCa({ step: 'prepare' });
  const adminBefore = await readFile(join(cp.dataDir, 'admin', 'svid.pem'), 'utf8');
  await cp.stop();
  // What a crash right after the commit point leaves: ca.json says activated, nothing else happened.
  await activateCaFiles({ dataDir: cp.dataDir, now: Date.now() });
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0' },
    flags: { dataDir: cp.dataDir },
    cwd: cp.dataDir,
  });
  const startAgain = async () => {
    const restarted = new ControlPlane({ config, passphrase: TEST_PASSPHRASE }, { logger: silentLogger() });
    const addresses = await restarted.start();
    const admin = new AdminApi({ address: formatHostPort(addresses.grpc), credentialsDir: join(cp.dataDir, 'admin') });
    return {
      admin,
      stop: async () => {
        admin.close();
        await restarted.stop();
      },
    };
  };
  const first = await startAgain();
  const admin = first.admin;
  const shown = await admin.showCa();
  t.equal(shown.phase, 'activated');
  t.not(
    await readFile(join(cp.dataDir, 'admin', 'svid.pem'), 'utf8'),
    adminBefore,
    'the admin credential was re-issued',
  );
  t.equal(
    issuingCaSerial(await readFile(join(cp.dataDir, 'admin', 'svid.pem'), 'utf8')),
    normalSerial(shown.current?.intermediate?.serial ?? ''),
    'under the new intermediate',
  );
  const order = await admin.rotationStatus();
  t.equal(order.reason, 'ca-activate', 'and the renewal order was sent');
  // An operator's order after it, then another restart: the finished activation sends nothing again.
  const operatorOrder = await admin.rotate({ all: true, windowMs: 60_000 });
  await first.stop();
  const second = await startAgain();
  t.teardown(second.stop);
  t.equal(
    (await second.admin.rotationStatus()).orderId,
    operatorOrder.orderId,
    'no second activation order after a restart',
  );
  await t.rejects(
    second.admin.rotateCa({ step: 'activate', force: true }),
    { code: 'SIGIL_ERR_CA_ROTATION_STATE' },
    'and activating again is refused',
  );
  const retired = await second.admin.rotateCa({ step: 'retire' });
  t.same(
    retired.blockers.map((b) => b.spiffeId),
    [],
    'nothing of the control plane blocks retire',
  );
});
