import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCsr } from '../common/csr-builder.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import { silentLogger } from '../common/logger.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import { AdminApi, initCa } from '../control-plane/index.ts';
import { GrpcIdentityApi, parseSidecarConfig, Sidecar } from '../sidecar/index.ts';
import { TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { startNatsCluster } from './fixtures/nats-cluster.ts';
import { freePort } from './fixtures/nats-server.ts';
import { echoServer, type EchoServer, trafficLoad } from './fixtures/net.ts';
import { POSTGRES_URL, TestSchemas } from './fixtures/postgres.ts';
import { type Child, sigil } from './fixtures/processes.ts';
import { untilEvent, untilSvid } from './fixtures/sidecar-waits.ts';

// Issue 17 acceptance: three control-plane processes on one PostgreSQL schema, a three-node NATS cluster, six
// sidecars given all three addresses and a call loop through them. The replica holding the singleton lock is
// killed with -9 while issuance, a revocation and a policy change are in flight; then a NATS node is killed.
// trustRefreshInterval is 1h: what reaches the sidecars comes over NATS (or the catch-up fetch after a reconnect).
const TD = 'example.org';
const id = (name: string) => `spiffe://${TD}/ns/prod/sa/${name}`;
const LEADER_POLL_MS = 250;
/** How long the singleton may take to move after its holder died: a poll, jitter and a loaded machine. */
const TAKEOVER_BOUND_MS = 10_000;
const LEADER_LOG = 'this replica now runs the singleton duties';

async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

t.test(
  'three replicas on PostgreSQL, a NATS cluster, six sidecars: kill -9 the leader, then a NATS node',
  async (t) => {
    const schemas = new TestSchemas();
    const schema = schemas.newSchema();
    const nats = await startNatsCluster(3);
    const root = await mkdtemp(join(tmpdir(), 'sigil-ha-'));
    const replicas: { dir: string; grpc: string; child: Child }[] = [];
    const sidecars: Sidecar[] = [];
    const apps: EchoServer[] = [];
    const admins: AdminApi[] = [];
    t.teardown(async () => {
      for (const s of sidecars) await s.stop(200).catch(() => undefined);
      for (const a of apps) a.close();
      for (const a of admins) a.close();
      await Promise.all(replicas.map((r) => r.child.stop()));
      await nats.stop();
      await schemas.dropSchemas();
      await rm(root, { recursive: true, force: true });
    });

    // The first replica is where `sigil ca init` ran; the others start with empty data dirs.
    const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const start = async (i: number) => {
      const dir = join(root, `cp-${i}`);
      if (i === 0)
        await initCa({
          dataDir: dir,
          trustDomain: TD,
          keyType: 'ec-p256',
          passphrase: TEST_PASSPHRASE,
          now: Date.now(),
        });
      else await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
      const config = join(root, `cp-${i}.yaml`);
      await writeFile(
        config,
        [
          `dataDir: ${dir}`,
          `listen: { grpc: 127.0.0.1:${ports[i]}, http: 127.0.0.1:${ports[i + 3]} }`,
          `store: { postgres: { url: "${POSTGRES_URL}", schema: ${schema}, pool: 4 } }`,
          `nats: { servers: [${nats.urls.map((u) => `"${u}"`).join(', ')}] }`,
          `replicas: { leaderPoll: ${LEADER_POLL_MS}ms, reloadInterval: 5s }`,
          'svid: { ttl: 20s }',
          'policy: { defaultAction: allow }',
        ].join('\n'),
      );
      const child = sigil(['control-plane', 'run', '--config', config], {
        env: { SIGIL_CA_PASSPHRASE: TEST_PASSPHRASE },
      });
      replicas[i] = { dir, grpc: `127.0.0.1:${ports[i]}`, child };
      await child.waitForMessage('control plane started');
    };
    await start(0);
    await Promise.all([start(1), start(2)]);
    const everyAddress = replicas.map((r) => r.grpc);
    const bundlePem = await readFile(join(replicas[0]!.dir, 'bundle.pem'), 'utf8');
    const admin = (addresses: readonly string[], random = Math.random) => {
      const api = new AdminApi({ address: addresses, credentialsDir: join(replicas[0]!.dir, 'admin'), random });
      admins.push(api);
      return api;
    };
    const anyReplica = admin(everyAddress);
    const token = async (spiffeId: string, uses = 1) =>
      (await anyReplica.createJoinToken({ spiffeId, ttlSeconds: 0, uses })).token;

    // Every SVID a client received, to be found in the inventory afterwards.
    const received = new Set<string>();
    const startSidecar = async (name: string, yaml: string[]) => {
      const spiffeId = id(name);
      const joinToken = await token(spiffeId);
      const config = parseSidecarConfig(
        [
          `spiffeId: ${spiffeId}`,
          `controlPlane: { address: [${everyAddress.map((a) => `"${a}"`).join(', ')}], bundle: bundle.pem }`,
          'admin: { listen: 127.0.0.1:0 }',
          `nats: { servers: [${nats.urls.map((u) => `"${u}"`).join(', ')}] }`,
          'trustRefreshInterval: 1h',
          ...yaml,
        ].join('\n'),
        join(root, `${name}.yaml`),
      );
      const sidecar = new Sidecar(
        { config, bootstrapBundlePem: bundlePem, joinToken: () => joinToken },
        { logger: silentLogger() },
      );
      sidecar.credentials.subscribe((c) => received.add(c.material.serial));
      sidecars.push(sidecar);
      return { sidecar, addresses: await sidecar.start() };
    };
    const servers: Awaited<ReturnType<typeof startSidecar>>[] = [];
    for (let i = 0; i < 3; i++) {
      const app = await echoServer();
      apps.push(app);
      servers.push(
        await startSidecar(`api-${i}`, [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`]),
      );
    }
    const clients: Awaited<ReturnType<typeof startSidecar>>[] = [];
    for (let i = 0; i < 3; i++) {
      const upstream = servers[i]!.addresses.inbound[0]!;
      clients.push(
        await startSidecar(`web-${i}`, [
          `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${upstream.port}", expect: ${id(`api-${i}`)} }`,
        ]),
      );
    }
    const loops = clients.map((c) => trafficLoad(c.addresses.outbound[0]!.port, { longLivedCount: 1, workers: 1 }));
    await Promise.all(loops.map((l) => l.more(5)));

    // Two workloads with SVIDs of their own: one is revoked while the leader dies, one after a NATS node died.
    const identityApi = new GrpcIdentityApi({ address: everyAddress, bundlePem: () => bundlePem, trustDomain: TD });
    const workload = async (name: string, uses = 1) => {
      const issued = await identityApi.attest(
        await token(id(name), uses),
        await makeCsr({ spiffeId: id(name), keys: await generateKeyPair('ec-p256') }),
      );
      const serial = parseX509Facts(issued.chain[0]!).serial;
      received.add(serial);
      return serial;
    };
    const rogue = await workload('rogue');
    const later = await workload('later');

    const leaderIndex = replicas.findIndex((r) => r.child.lines.some((l) => l['msg'] === LEADER_LOG));
    t.ok(leaderIndex >= 0, `replica ${leaderIndex} holds the singleton lock`);
    const leader = replicas[leaderIndex]!;
    const survivors = replicas.filter((r) => r !== leader);

    await t.test('kill -9 of the leader while issuance, a revocation and a policy change are in flight', async (t) => {
      // The in-flight calls go to the leader first, so they meet its death and are retried elsewhere.
      const towardsLeader = admin([leader.grpc, ...survivors.map((r) => r.grpc)], () => 0);
      const policyYaml = `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: api-0-callers }\nspec:\n  destination: ${id('api-0')}\n  allow:\n    - from: ${id('web-0')}\n`;
      const issuance = Promise.all([workload('batch-0', 2), workload('batch-1', 2), workload('batch-2', 2)]);
      const revocation = towardsLeader.revoke({ spiffeId: id('rogue'), reason: 'keyCompromise' });
      const policy = towardsLeader.applyPolicies({ yaml: policyYaml, source: 'ha.yaml', dryRun: false });
      const killedAt = Date.now();
      leader.child.process.kill('SIGKILL');
      await leader.child.exited;
      const [issued, revoked, applied] = await Promise.all([issuance, revocation, policy]);
      t.equal(issued.length, 3, 'the issuance in flight completed (on a surviving replica where needed)');
      t.ok(revoked.revokedSerials.includes(rogue), 'the revocation completed');
      t.ok(Number(applied.version) >= 1, `the policy change completed (version ${applied.version})`);

      // Renewals go on with one replica gone: every sidecar gets its next SVID (TTL 20 s: renewal at about 10 s).
      const before = new Map(sidecars.map((s) => [s, s.credentials.current?.material.serial]));
      const renewals = Promise.all(sidecars.map((s) => untilSvid(s, (m) => m.serial !== before.get(s))));
      const newLeader = await within(
        TAKEOVER_BOUND_MS,
        'a surviving replica taking the singleton lock',
        Promise.race(survivors.map((r) => r.child.waitForMessage(LEADER_LOG).then(() => r))),
      );
      t.pass(
        `replica ${replicas.indexOf(newLeader)} took over the singleton duties ${Date.now() - killedAt} ms after the kill`,
      );

      // The revocation reached every sidecar, whichever replica it talks to.
      const enforced = await within(
        15_000,
        'every sidecar enforcing the revocation',
        Promise.all(
          sidecars.map(async (s) => {
            while (!s.revocation.set.isRevoked(rogue, id('rogue'))) await new Promise((r) => setTimeout(r, 50));
          }),
        ),
      );
      t.equal(enforced.length, 6, 'all six sidecars refuse the revoked workload');
      t.equal(
        (await within(30_000, 'every sidecar renewing with a replica down', renewals)).length,
        6,
        'every sidecar renewed after the kill',
      );
      await within(
        15_000,
        'every server sidecar enforcing the new policy version',
        Promise.all(
          servers.map(async (s) => {
            while ((s.sidecar.policy.version ?? 0) < Number(applied.version))
              await new Promise((r) => setTimeout(r, 50));
          }),
        ),
      );
      t.pass('the policy version reached every server sidecar');

      const survivor = admin([survivors[0]!.grpc]);
      const other = admin([survivors[1]!.grpc]);
      const issuedViaOther = await (async () => {
        const only = new GrpcIdentityApi({ address: survivors[1]!.grpc, bundlePem: () => bundlePem, trustDomain: TD });
        const chain = (
          await only.attest(
            await token(id('fresh')),
            await makeCsr({ spiffeId: id('fresh'), keys: await generateKeyPair('ec-p256') }),
          )
        ).chain;
        return parseX509Facts(chain[0]!).serial;
      })();
      received.add(issuedViaOther);
      const listed = await survivor.listCertificates({ spiffeId: '', expiringWithinSeconds: 0, kind: '' });
      const serials = listed.certificates.map((c) => c.serial);
      t.ok(serials.includes(issuedViaOther), "a new SVID issued by one replica appears in another's certs list");
      t.equal(new Set(serials).size, serials.length, 'no serial is duplicated in the inventory');
      const missing = [...received].filter((s) => !serials.includes(s));
      t.same(missing, [], `every one of the ${received.size} SVIDs clients received is in the inventory`);
      t.ok((await other.showCa()).current, 'the other survivor answers too');
    });

    await t.test('kill one NATS node: pushes still arrive', async (t) => {
      await nats.kill(0);
      // A first change after the kill lets every client finish reconnecting (and catching up) to a live node.
      const policyYaml = `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: api-1-callers }\nspec:\n  destination: ${id('api-1')}\n  allow:\n    - from: ${id('web-1')}\n`;
      const warm = await anyReplica.applyPolicies({ yaml: policyYaml, source: 'ha2.yaml', dryRun: false });
      await within(
        20_000,
        'every sidecar back on the event channel',
        Promise.all(
          sidecars.map(async (s) => {
            while (!s.eventChannelConnected || (s.policy.version ?? 0) < Number(warm.version))
              await new Promise((r) => setTimeout(r, 50));
          }),
        ),
      );
      const pushed = sidecars.map((s) =>
        untilEvent(s, (e) => e.type === 'event.received' && e.kind === 'revocation' && e.result === 'applied'),
      );
      await anyReplica.revoke({ serial: later, reason: 'superseded' });
      await within(10_000, 'the revocation event at every sidecar', Promise.all(pushed));
      t.ok(
        sidecars.every((s) => s.revocation.set.isRevoked(later, id('later'))),
        'pushed over the surviving NATS nodes to all six',
      );
    });

    const results = await Promise.all(loops.map((l) => l.stop()));
    const failures = results.flatMap((r) => [...r.failures, ...r.dropped]);
    t.same(failures, [], `0 failed calls in ${results.reduce((n, r) => n + r.newConnections, 0)} through the sidecars`);
  },
);
