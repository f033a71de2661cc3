import t from 'tap';
import { connect as natsConnect } from 'nats';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { makeCsr } from '../common/csr-builder.ts';
import { signEvent } from '../common/events/signed-event.ts';
import { eventSubject } from '../common/events/subjects.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import { pemCertificatesToDer } from '../common/trust-bundle.ts';
import { mintCa } from '../control-plane/ca/mint-ca.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { makeTestPki } from './fixtures/cert-factory.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { startNatsServer } from './fixtures/nats-server.ts';
import { echoServer, exchange, openConnection } from './fixtures/net.ts';
import { rootsChangedTo, untilConnected, untilEvent } from './fixtures/sidecar-waits.ts';
import { startSidecar, type RunningSidecar } from './fixtures/sidecar-fixture.ts';

// Issue 4: signed bundle updates over NATS reach every sidecar at once, survive a NATS outage, and bad messages
// change nothing. trustRefreshInterval is 1h here, so only the event channel (and its reconnect catch-up) can
// carry the changes. SIGIL_NATS_OUTAGE_MS shortens the 30 s outage for local runs.
const OUTAGE_MS = Number(process.env['SIGIL_NATS_OUTAGE_MS'] ?? 30_000);
const TD = 'example.org';

async function newRootPem(): Promise<string> {
  const minted = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: Date.now() });
  return minted.root.cert.toString('pem');
}

t.test('signed bundle updates over NATS', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url], svidTtl: '20s' });
  const app = await echoServer();
  const sidecars: RunningSidecar[] = [];
  t.teardown(async () => {
    for (const s of sidecars) await s.stop();
    app.close();
    await cp.stop();
    await nats.stop();
  });
  const common = { natsServers: [nats.url], trustRefreshInterval: '1h' };
  const api = await startSidecar(cp, {
    ...common,
    spiffeId: `spiffe://${TD}/ns/ev/sa/api`,
    yaml: [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${(app.address() as { port: number }).port} }`],
  });
  sidecars.push(api);
  const inbound = api.addresses.inbound[0]!;
  const web = await startSidecar(cp, {
    ...common,
    spiffeId: `spiffe://${TD}/ns/ev/sa/web`,
    yaml: [
      `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${inbound.port}", expect: spiffe://${TD}/ns/ev/sa/api }`,
    ],
  });
  sidecars.push(web);
  const batch = await startSidecar(cp, { ...common, spiffeId: `spiffe://${TD}/ns/ev/sa/batch` });
  sidecars.push(batch);
  const all = sidecars.map((s) => s.sidecar);
  await Promise.all(all.map(untilConnected));
  const outboundPort = web.addresses.outbound[0]!.port;
  const longLived = await openConnection(outboundPort);
  t.equal(await exchange(longLived, 'before'), 'before');

  // The sidecars refresh hourly, so a change seen here was pushed. How fast is the propagation benchmark's job
  // (bench/propagation.ts), not a timed assertion on a shared machine.
  await t.test('a new root is pushed to all three sidecars, without dropping connections', async (t) => {
    const start = Date.now();
    const applied = Promise.all(all.map((s) => rootsChangedTo(s, 2)));
    await cp.controlPlane.addTrustAnchors(await newRootPem());
    const times = await applied;
    t.comment(`applied everywhere after ${Math.max(...times) - start} ms`);
    t.equal(await exchange(longLived, 'during'), 'during', 'the open connection is untouched');
    const fresh = await openConnection(outboundPort);
    t.equal(await exchange(fresh, 'fresh'), 'fresh', 'new handshakes work with the new bundle');
    fresh.destroy();
    for (const s of all)
      t.equal(
        s.credentials.current?.material.bundlePem.match(/BEGIN CERTIFICATE/g)?.length,
        2,
        'the TLS contexts carry both roots',
      );
  });

  await t.test(
    `NATS down for ${OUTAGE_MS / 1000}s while the bundle changes: sidecars keep serving and converge on reconnect`,
    async (t) => {
      const disconnected = Promise.all(
        all.map((s) =>
          s.eventChannelConnected ? untilEvent(s, (e) => e.type === 'event-channel.disconnected') : undefined,
        ),
      );
      await nats.stop();
      await disconnected;
      const serialBefore = api.sidecar.credentials.current?.material.serial;
      await cp.controlPlane.addTrustAnchors(await newRootPem());
      await delay(OUTAGE_MS);
      t.equal(await exchange(longLived, 'outage'), 'outage', 'traffic flows with NATS down');
      if (OUTAGE_MS >= 15_000)
        t.not(api.sidecar.credentials.current?.material.serial, serialBefore, 'renewal over gRPC went on');
      // Renewals over gRPC (20 s SVIDs) may already have brought the new bundle: both paths are fine.
      const converged = Promise.all(all.map((s) => rootsChangedTo(s, 3)));
      await nats.restart();
      await converged;
      t.pass('every sidecar holds the three-root bundle, no restart');
      t.equal(await exchange(longLived, 'after'), 'after', 'the long-lived connection survived the outage');
    },
  );

  await t.test('forged, replayed, truncated, garbage and foreign messages are dropped and counted', async (t) => {
    await Promise.all(all.map(untilConnected));
    const nc = await natsConnect({ servers: nats.url });
    t.teardown(() => nc.close());
    const subject = eventSubject(TD, 'bundle');
    const captured = new Promise<Uint8Array>((resolve) => {
      const sub = nc.subscribe(subject, { max: 1, callback: (_e, m) => resolve(m.data) });
      void sub;
    });
    await nc.flush();
    let allApplied = false;
    const good = Promise.all(
      all.map((s) => untilEvent(s, (e) => e.type === 'event.received' && e.result === 'applied')),
    ).then(() => {
      allApplied = true;
    });
    const sequenceBefore = api.sidecar.trust.bundle?.sequence;
    // Just after a reconnect (the previous test) a sidecar's subscription may not be back on the server when the
    // control plane publishes: NATS core delivers at most once, and in service the gRPC catch-up on reconnect
    // covers that gap. Here every sidecar must receive one authentic event, so publish until each has.
    while (!allApplied) {
      await cp.controlPlane.addTrustAnchors(cp.bundlePem);
      await Promise.race([good, delay(500)]);
    }
    const real = await captured;

    const otherPki = await makeTestPki(TD);
    const strangerCp = await otherPki.issueSvid(`spiffe://${TD}/sigil/control-plane`);
    const keys = await generateKeyPair('ec-p256');
    const id = `spiffe://${TD}/ns/ev/sa/mallory`;
    const workload = await new GrpcIdentityApi({ address: cp.grpcAddress, bundlePem: () => cp.bundlePem }).attest(
      await cp.createToken(id),
      await makeCsr({ spiffeId: id, keys }),
    );
    const foreignPki = await makeTestPki('other.org');
    const foreignCp = await foreignPki.issueSvid('spiffe://other.org/sigil/control-plane');
    const bundleEvent = {
      type: 'bundle.updated' as const,
      roots: pemCertificatesToDer(otherPki.bundlePem),
      bundleSequence: 10_000,
      refreshHintSeconds: 300,
    };
    const sign = (trustDomain: string, chainDer: Uint8Array[], privateKey: CryptoKey) =>
      signEvent({
        event: bundleEvent,
        trustDomain,
        sequence: 10_000,
        issuedAt: Date.now(),
        signer: { chainDer, privateKey },
      });
    const cases: Array<[string, Uint8Array]> = [
      ['untrusted-signer', await sign(TD, [strangerCp.der, otherPki.intermediate.der], strangerCp.key.privateKey)],
      ['not-control-plane', await sign(TD, workload.chain, keys.privateKey)],
      ['replayed', real],
      ['malformed', real.subarray(0, Math.floor(real.length / 2))],
      ['malformed', new Uint8Array(randomBytes(200))],
      // Named before it is validated (issue 21: no signature work for a chain that cannot be our control plane).
      [
        'wrong-trust-domain',
        await sign('other.org', [foreignCp.der, foreignPki.intermediate.der], foreignCp.key.privateKey),
      ],
    ];
    const counts = new Map<string, number>();
    const seen = all.map(() => new Map<string, number>());
    const offs = all.map((s, i) =>
      s.onEvent((e) => {
        if (e.type === 'event.received') seen[i]!.set(e.result, (seen[i]!.get(e.result) ?? 0) + 1);
      }),
    );
    for (const [reason, bytes] of cases) {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
      nc.publish(subject, bytes);
    }
    await nc.flush();
    // A final good event: NATS delivers in order per connection, and our flush put the bad ones first.
    const marker = Promise.all(
      all.map((s) => untilEvent(s, (e) => e.type === 'event.received' && e.result === 'applied')),
    );
    await cp.controlPlane.addTrustAnchors(cp.bundlePem);
    await marker;
    for (const off of offs) off();
    for (const [i, s] of all.entries()) {
      for (const [reason, n] of counts) t.equal(seen[i]!.get(reason), n, `${s.spiffeId}: ${n} dropped as ${reason}`);
      t.equal(s.trust.bundle?.roots.length, 3, `${s.spiffeId}: bundle unchanged by bad input`);
    }
    t.ok((api.sidecar.trust.bundle?.sequence ?? 0) >= (sequenceBefore ?? 0), 'sequence never went back');
  });
  longLived.destroy();
});
