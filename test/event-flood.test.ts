import t from 'tap';
import { connect as natsConnect } from 'nats';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventSubject } from '../common/events/subjects.ts';
import { mintCa } from '../control-plane/ca/mint-ca.ts';
import type { PublisherMessage } from '../bench/event-flood/flood-publisher.ts';
import { makeForgedEvents, signerChainOf } from '../bench/lib/forged-events.ts';
import type { SidecarEvent } from '../sidecar/index.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { echoServer, exchange, openConnection } from './fixtures/net.ts';
import { startNatsServer } from './fixtures/nats-server.ts';
import { rootsChangedTo, untilConnected, untilEvent } from './fixtures/sidecar-waits.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';

// Issue 21 item 6: a flood of forged events, published by another process as fast as NATS takes them, must not
// cut the sidecar off NATS or keep it from its work: what its verifier cannot take is dropped unread and counted
// ('queue-full'), and a dropped change arrives anyway (the catch-up over gRPC after drops). How fast connections
// stay under a flood is measured by `npm run bench -- event-flood`, not here.
const TD = 'example.org';
/** Messages the sidecar must have handled before it is asked anything: well into the flood. */
const INTO_THE_FLOOD = 3_000;

async function newRootPem(): Promise<string> {
  return (await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: Date.now() })).root.cert.toString('pem');
}

t.test('a flood of forged events', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-event-flood-'));
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url] });
  const app = await echoServer();
  const common = { natsServers: [nats.url], trustRefreshInterval: '1h' };
  const api = await startSidecar(cp, {
    ...common,
    spiffeId: `spiffe://${TD}/ns/flood/sa/api`,
    yaml: [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`],
  });
  const web = await startSidecar(cp, {
    spiffeId: `spiffe://${TD}/ns/flood/sa/web`,
    yaml: [
      `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${api.addresses.inbound[0]!.port}", expect: spiffe://${TD}/ns/flood/sa/api }`,
    ],
  });
  const observer = await natsConnect({ servers: nats.url });
  let publisher: ReturnType<typeof spawn> | undefined;
  t.teardown(async () => {
    publisher?.kill('SIGKILL');
    await observer.close();
    await web.stop();
    await api.stop();
    app.close();
    await cp.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await untilConnected(api.sidecar);
  const counted = new Map<string, number>();
  const disconnects: SidecarEvent[] = [];
  api.sidecar.onEvent((e) => {
    if (e.type === 'event.received') counted.set(e.result, (counted.get(e.result) ?? 0) + 1);
    if (e.type === 'event-channel.disconnected') disconnects.push(e);
  });
  const receivedMore = (n: number) => {
    let seen = 0;
    return untilEvent(api.sidecar, (e) => e.type === 'event.received' && ++seen >= n);
  };

  // An authentic event first: the sidecar caches the control plane's chain, the attacker copies it from the wire.
  const bundleSubject = eventSubject(TD, 'bundle');
  const captured = (async () => {
    for await (const msg of observer.subscribe(bundleSubject, { max: 1 })) return msg.data;
    throw new Error('no bundle event seen');
  })();
  await observer.flush();
  await cp.controlPlane.addTrustAnchors(await newRootPem());
  await rootsChangedTo(api.sidecar, 2);
  const chain = signerChainOf(await captured);

  const forged = await makeForgedEvents({
    trustDomain: TD,
    kinds: ['p521-long-chain', 'forged-control-plane-chain', 'bad-signature'],
    controlPlaneChain: chain,
  });
  const eventsFile = join(dir, 'forged.json');
  writeFileSync(
    eventsFile,
    JSON.stringify(forged.map((e) => ({ subject: e.subject, base64: Buffer.from(e.data).toString('base64') }))),
  );
  const script = new URL('../bench/event-flood/flood-publisher.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [script, nats.url, eventsFile, '0'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  publisher = child;
  const done = new Promise<number>((resolve) =>
    child.on('message', (m: PublisherMessage) => m.type === 'done' && resolve(m.published)),
  );
  await new Promise<void>((resolve) => child.on('message', (m: PublisherMessage) => m.type === 'ready' && resolve()));
  // Well into the flood before anything is asked of the sidecar.
  await receivedMore(INTO_THE_FLOOD);

  await t.test('new connections through the inbound listener are accepted during the flood', async (t) => {
    for (const text of ['one', 'two', 'three']) {
      const socket = await openConnection(web.addresses.outbound[0]!.port);
      t.equal(await exchange(socket, text), text);
      socket.destroy();
    }
  });

  await t.test('an authentic event published during the flood is applied', async (t) => {
    const next = (async () => {
      for await (const msg of observer.subscribe(bundleSubject, { max: 1 })) return msg.data;
      throw new Error('no bundle event seen');
    })();
    await observer.flush();
    const applied = rootsChangedTo(api.sidecar, 3);
    await cp.controlPlane.addTrustAnchors(await newRootPem());
    const authentic = await next;
    t.ok(authentic.length > 0, 'the control plane published it');
    // Over NATS if the verifier had room for it, else by the catch-up the drops set off.
    await applied;
    t.equal(api.sidecar.trust.bundle?.roots.length, 3, 'the bundle holds the new root');
  });

  child.kill('SIGTERM');
  const published = await done;
  publisher = undefined;

  t.test('the flood was dropped and counted, and NATS never cut the sidecar off', async (t) => {
    const dropped = [...counted].filter(([result]) => result !== 'applied').reduce((sum, [, n]) => sum + n, 0);
    t.ok(published > INTO_THE_FLOOD, `the attacker published ${published} events`);
    t.ok(dropped >= INTO_THE_FLOOD, `${dropped} dropped: ${JSON.stringify(Object.fromEntries(counted))}`);
    t.ok((counted.get('queue-full') ?? 0) > 0, 'what the verifier could not take was dropped unread');
    t.same(disconnects, [], 'the event channel stayed connected');
    t.ok(api.sidecar.eventChannelConnected);
  });
});
