import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHostPort } from '../common/address.ts';
import { silentLogger } from '../common/logger.ts';
import { AdminApi, ControlPlane, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { SqliteStore } from '../control-plane/store/sqlite-store.ts';
import type { RevocationRecord } from '../control-plane/store/store.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { startNatsServer } from './fixtures/nats-server.ts';
import { untilConnected, untilEvent } from './fixtures/sidecar-waits.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';

// Issue 21 item 3: state larger than gRPC's 4 MB and NATS' 1 MB message limits reaches every sidecar: FetchTrust is
// paged, and NATS events too large for one message go out in their partial form, which sends sidecars to FetchTrust.
const TD = 'example.org';
const REVOKED = 100_000;
const POLICIES = 10_000;
const HOUR = 3_600_000;

t.test('100,000 revoked serials and 10,000 policies reach sidecars over gRPC and over NATS', async (t) => {
  const nats = await startNatsServer();
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-large-state-'));
  const first = await startControlPlane({ natsServers: [nats.url], dataDir });
  await first.stop();
  t.teardown(async () => {
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Revocations written straight into the store while the control plane is down (revoking 100,000 real
  // certificates one by one would take minutes); the restarted control plane serves what the store holds.
  const now = Date.now();
  const bulk: RevocationRecord[] = Array.from({ length: REVOKED }, (_, i) => ({
    serial: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '7'),
    spiffeId: `spiffe://${TD}/bulk/${i}`,
    reason: 'keyCompromise',
    revokedAt: now,
    effectiveAt: now,
    notAfter: now + HOUR,
  }));
  const store = new SqliteStore({ path: join(dataDir, 'sigil.db') });
  await store.open();
  await store.revokeCertificates(bulk);
  await store.setMeta('crl.current', '{}'); // forces a new CRL at start: it must be signed at this size too
  await store.close();

  const config = resolveControlPlaneConfig({
    env: {
      SIGIL_LISTEN_GRPC: '127.0.0.1:0',
      SIGIL_LISTEN_HTTP: '127.0.0.1:0',
      SIGIL_POLICY_DEFAULT_ACTION: 'allow',
      SIGIL_NATS_SERVERS: nats.url,
    },
    flags: { dataDir },
    cwd: dataDir,
  });
  const controlPlane = new ControlPlane({ config, passphrase: TEST_PASSPHRASE }, { logger: silentLogger() });
  const grpcAddress = formatHostPort((await controlPlane.start()).grpc);
  const admin = new AdminApi({ address: grpcAddress, credentialsDir: join(dataDir, 'admin') });
  t.teardown(async () => {
    admin.close();
    await controlPlane.stop();
  });
  const cp = {
    dataDir,
    grpcAddress,
    bundlePem: await readFile(join(dataDir, 'bundle.pem'), 'utf8'),
    createToken: async (spiffeId: string) => (await admin.createJoinToken({ spiffeId })).token,
  };

  const overNats = await startSidecar(cp, {
    spiffeId: `spiffe://${TD}/ns/big/sa/nats`,
    natsServers: [nats.url],
    trustRefreshInterval: '1h',
  });
  t.teardown(() => overNats.stop());
  const grpcOnly = await startSidecar(cp, { spiffeId: `spiffe://${TD}/ns/big/sa/grpc`, trustRefreshInterval: '1h' });
  t.teardown(() => grpcOnly.stop());
  for (const s of [overNats, grpcOnly]) {
    const set = s.sidecar.revocation.set;
    t.equal(set.size.serials, REVOKED, 'every revoked serial arrived through paged FetchTrust');
    t.ok(set.isRevoked(bulk[0]!.serial, `spiffe://${TD}/x`) && set.isRevoked(bulk.at(-1)!.serial, `spiffe://${TD}/x`));
  }

  await untilConnected(overNats.sidecar);
  const yaml = Array.from(
    { length: POLICIES },
    (_, i) => `apiVersion: sigil.dev/v1
kind: AllowPolicy
metadata: { name: p${i} }
spec:
  destination: spiffe://${TD}/ns/big/sa/d${i}
  allow:
    - from: spiffe://${TD}/ns/big/sa/s${i}
      ports: [8443]
`,
  ).join('---\n');
  const policyArrived = new Promise<number>((resolve) => {
    const off = overNats.sidecar.policy.onChange((compiled) => {
      off();
      resolve(compiled.version);
    });
  });
  const partial = untilEvent(overNats.sidecar, (e) => e.type === 'event.received' && e.kind === 'policy');
  const applied = await admin.applyPolicies({ yaml, source: 'big.yaml' });
  t.equal(applied.applied, true, 'a set far over NATS’ 1 MB limit is applied without INTERNAL');
  t.match(await partial, { result: 'applied' }, 'its NATS event (the partial form) arrived and verified');
  t.equal(await policyArrived, Number(applied.version), 'and made the sidecar fetch the set over gRPC');
  t.equal((await admin.listPolicies()).policies.length, POLICIES);
});
