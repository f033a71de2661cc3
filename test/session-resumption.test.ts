import t from 'tap';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { startControlPlane, type RunningControlPlane } from './fixtures/control-plane-fixture.ts';
import { startNatsServer } from './fixtures/nats-server.ts';
import { startSidecar, type RunningSidecar } from './fixtures/sidecar-fixture.ts';
import { echoServer, roundTrip } from './fixtures/net.ts';
import { rootsChangedTo, untilConnected } from './fixtures/sidecar-waits.ts';
import type { Sidecar, TlsMaterial } from '../sidecar/index.ts';

// Issue 23 item 1: real sidecars resume TLS 1.3 sessions between each other by default, and a resumed
// connection is judged like a full one: revocation and policy apply to the identity restored from the ticket.
const TD = 'example.org';
const id = (name: string) => `spiffe://${TD}/ns/res/sa/${name}`;

function policy(callers: string[]): string {
  return [
    'apiVersion: sigil.dev/v1',
    'kind: AllowPolicy',
    'metadata: { name: api-callers }',
    'spec:',
    `  destination: ${id('api')}`,
    '  allow:',
    ...callers.map((c) => `    - from: ${c}`),
  ].join('\n');
}

/** `sigil_tls_sessions_total` of one sidecar, from its admin endpoint. */
async function sessions(s: RunningSidecar, direction: 'inbound' | 'outbound') {
  const text = await (await fetch(`http://127.0.0.1:${s.addresses.admin.port}/metrics`)).text();
  const count = (mode: string) =>
    Number(
      new RegExp(`^sigil_tls_sessions_total\\{direction="${direction}",mode="${mode}"\\} (\\d+)$`, 'm').exec(
        text,
      )?.[1] ?? 0,
    );
  return { full: count('full'), resumed: count('resumed') };
}

interface ProbeResult {
  readonly reused: boolean;
  readonly echoed: string;
  readonly ticket: Buffer | undefined;
}

/** A raw mTLS client with a sidecar's SVID: lets a test keep a ticket the sidecar itself would have dropped. */
async function probe(port: number, material: TlsMaterial, bundlePem: string, session?: Buffer): Promise<ProbeResult> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    cert: material.certChainPem,
    key: material.keyPem,
    ca: bundlePem,
    checkServerIdentity: () => undefined,
    ...(session ? { session } : {}),
  });
  let ticket: Buffer | undefined;
  let echoed = '';
  socket.on('session', (s: Buffer) => (ticket ??= s));
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  socket.write('ping');
  await new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      echoed += d.toString();
      socket.end();
    });
    socket.once('close', () => resolve());
  });
  return { reused, echoed, ticket };
}

function policyVersion(s: Sidecar, version: number): Promise<void> {
  if ((s.policy.version ?? 0) >= version) return Promise.resolve();
  return new Promise((resolve) => {
    const off = s.policy.onChange((c) => {
      if (c.version >= version) {
        off();
        resolve();
      }
    });
  });
}

async function apply(cp: RunningControlPlane, api: RunningSidecar, version: number, callers: string[]) {
  const applied = policyVersion(api.sidecar, version);
  await cp.admin.applyPolicies({ yaml: policy(callers), source: 'p.yaml', dryRun: false });
  await applied;
}

t.test('resumption between real sidecars, and its safety', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url], policyDefaultAction: 'deny' });
  const app = await echoServer();
  const sidecars: RunningSidecar[] = [];
  t.teardown(async () => {
    for (const s of sidecars) await s.stop();
    app.close();
    await cp.stop();
    await nats.stop();
  });
  const start = async (name: string, yaml: string[]) => {
    const s = await startSidecar(cp, { spiffeId: id(name), natsServers: [nats.url], trustRefreshInterval: '1h', yaml });
    sidecars.push(s);
    await untilConnected(s.sidecar);
    return s;
  };
  const api = await start('api', [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`]);
  const apiPort = api.addresses.inbound[0]!.port;
  const outbound = `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${apiPort}", expect: ${id('api')} }`;
  const web = await start('web', [outbound]);
  const batch = await start('batch', [outbound]);
  await apply(cp, api, 1, [id('web'), id('batch')]);
  const webPort = web.addresses.outbound[0]!.port;

  await t.test('steady traffic resumes: more than 95 % of connections on both sides', async (t) => {
    for (let i = 0; i < 40; i++) t.equal(await roundTrip(webPort, `m${i}`), `m${i}`);
    const inbound = await sessions(api, 'inbound');
    const outbound = await sessions(web, 'outbound');
    t.same(outbound, { full: 1, resumed: 39 }, 'the outbound side offered a ticket after the first handshake');
    t.same(inbound, { full: 1, resumed: 39 }, 'the inbound side resumed them');
    t.ok(inbound.resumed / (inbound.full + inbound.resumed) > 0.95);
  });

  await t.test('a CA rotation step (new bundle) ends resumption at once, then it resumes again', async (t) => {
    await cp.admin.rotateCa({ step: 'prepare' });
    await Promise.all([rootsChangedTo(api.sidecar, 2), rootsChangedTo(web.sidecar, 2)]);
    const before = await sessions(api, 'inbound');
    for (let i = 0; i < 5; i++) t.equal(await roundTrip(webPort, `r${i}`), `r${i}`);
    const after = await sessions(api, 'inbound');
    t.same(
      { full: after.full - before.full, resumed: after.resumed - before.resumed },
      { full: 1, resumed: 4 },
      'one full handshake under the new bundle, then resumptions',
    );
  });

  const bundlePem = api.sidecar.credentials.current!.material.bundlePem;

  await t.test('a resumed connection from a caller no longer allowed by policy is refused', async (t) => {
    const material = batch.sidecar.credentials.current!.material;
    const first = await probe(apiPort, material, bundlePem);
    t.equal(first.echoed, 'ping', 'allowed on a full handshake');
    t.ok(first.ticket, 'and given a ticket');
    await apply(cp, api, 2, [id('web')]);
    const accepted = app.accepted;
    const resumed = await probe(apiPort, material, bundlePem, first.ticket);
    t.ok(resumed.reused, 'the session was resumed');
    t.equal(resumed.echoed, '', 'and refused');
    t.equal(app.accepted, accepted, 'the app never saw it');
  });

  await t.test('a resumed connection from a revoked caller is refused', async (t) => {
    const material = web.sidecar.credentials.current!.material;
    const first = await probe(apiPort, material, bundlePem);
    t.equal(first.echoed, 'ping');
    const revoked = new Promise<void>((resolve) => {
      const off = api.sidecar.revocation.onChange((set) => {
        if (set.isRevoked(material.serial, material.spiffeId)) {
          off();
          resolve();
        }
      });
    });
    await cp.admin.revoke({ serial: material.serial, reason: 'keyCompromise' });
    await revoked;
    const accepted = app.accepted;
    const resumed = await probe(apiPort, material, bundlePem, first.ticket);
    t.ok(resumed.reused, 'the session was resumed');
    t.equal(resumed.echoed, '', 'and refused');
    t.equal(app.accepted, accepted, 'the app never saw it');
  });
});

t.test('resumption: false gives full handshakes only', async (t) => {
  const cp = await startControlPlane();
  const app = await echoServer();
  const api = await startSidecar(cp, {
    spiffeId: id('api'),
    yaml: ['resumption: false', `inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`],
  });
  const web = await startSidecar(cp, {
    spiffeId: id('web'),
    yaml: [
      'resumption: false',
      `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${api.addresses.inbound[0]!.port}", expect: ${id('api')} }`,
    ],
  });
  t.teardown(async () => {
    await web.stop();
    await api.stop();
    app.close();
    await cp.stop();
  });
  for (let i = 0; i < 5; i++) t.equal(await roundTrip(web.addresses.outbound[0]!.port, `n${i}`), `n${i}`);
  t.same(await sessions(api, 'inbound'), { full: 5, resumed: 0 });
  t.same(await sessions(web, 'outbound'), { full: 5, resumed: 0 });
  const material = web.sidecar.credentials.current!.material;
  const bundlePem = material.bundlePem;
  const first = await probe(api.addresses.inbound[0]!.port, material, bundlePem);
  const second = await probe(api.addresses.inbound[0]!.port, material, bundlePem, first.ticket);
  t.notOk(second.reused, 'the inbound side resumes nothing, even for a client that offers a ticket');
});

t.test('a ticket does not outlive the short-lived SVID it was issued to', async (t) => {
  const cp = await startControlPlane({ svidTtl: '8s' });
  const app = await echoServer();
  const api = await startSidecar(cp, {
    spiffeId: id('api'),
    yaml: [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`],
  });
  // Only its SVID is used: a raw client keeps the ticket past the certificate's end, as a sidecar never would.
  const web = await startSidecar(cp, { spiffeId: id('web') });
  t.teardown(async () => {
    await web.stop();
    await api.stop();
    app.close();
    await cp.stop();
  });
  const port = api.addresses.inbound[0]!.port;
  const material = web.sidecar.credentials.current!.material;
  const bundlePem = material.bundlePem;
  const first = await probe(port, material, bundlePem);
  t.equal(first.echoed, 'ping');
  // The one wait on the clock itself: the certificate has to run out (api renews its own SVID meanwhile).
  await new Promise((resolve) => setTimeout(resolve, material.notAfter + 1000 - Date.now()));
  const resumed = await probe(port, material, bundlePem, first.ticket);
  t.ok(resumed.reused, 'the ticket still decrypts');
  t.equal(resumed.echoed, '', 'but the expired certificate inside it is refused');
  const metrics = await (await fetch(`http://127.0.0.1:${api.addresses.admin.port}/metrics`)).text();
  t.match(metrics, /sigil_connections_refused_total\{direction="inbound",reason="session_expired"\} 1/);
});
