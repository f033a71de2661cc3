import t, { type Test } from 'tap';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { InboundListener, type InboundListenerOptions } from './inbound-listener.ts';
import {
  credentialSourceWith,
  materialFor,
  nextData,
  readToEnd,
  RecordingObserver,
  startEchoApp,
  tlsClient,
  uriSanVerifier,
} from './proxy-test-kit.ts';

// Issue 21 item 8: half-open handshakes from one source must not starve other sources or pile up in memory.
const TD = 'example.org';
const pki = await makeTestPki(TD);
const apiMaterial = await materialFor(pki, `spiffe://${TD}/ns/prod/sa/api`);
const webMaterial = await materialFor(pki, `spiffe://${TD}/ns/prod/sa/web`);
// tls.connect() honours net's localAddress, which @types/node leaves out of ConnectionOptions.
const FROM_LEGIT = { localAddress: '127.0.0.2' } as ConnectionOptions;
// The first bytes of a TLS record header: the server waits for the rest, as a slowloris client wants.
const PARTIAL_HELLO = Buffer.from([0x16, 0x03, 0x01]);

interface Rig {
  readonly listener: InboundListener;
  readonly port: number;
  readonly observer: RecordingObserver;
}

async function rig(t: Test, options: Partial<InboundListenerOptions>): Promise<Rig> {
  const app = await startEchoApp();
  const observer = new RecordingObserver();
  const listener = new InboundListener(
    {
      listen: { host: '127.0.0.1', port: 0 },
      forward: { host: '127.0.0.1', port: app.port },
      idleTimeoutMs: 30_000,
      ...options,
    },
    { credentials: credentialSourceWith(apiMaterial), verifyPeer: uriSanVerifier(), observer },
  );
  await listener.start();
  t.teardown(async () => {
    await listener.stop({ drainTimeoutMs: 0 });
    await app.close();
  });
  return { listener, port: listener.address().port, observer };
}

interface Attack {
  readonly sockets: Socket[];
  /** Resolves once `count` of the attacker's sockets have been closed by the server. */
  closedBy(count: number): Promise<void>;
  open(): number;
  stop(): Promise<void>;
}

/** Opens `count` connections from `from`, each sending a partial ClientHello and then nothing. */
async function halfOpen(port: number, from: string, count: number): Promise<Attack> {
  const sockets: Socket[] = [];
  let closed = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  for (let i = 0; i < count; i += 1) {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    socket.on('error', () => {});
    socket.once('close', () => {
      closed += 1;
      for (const w of waiters.filter((w) => closed >= w.count)) w.resolve();
    });
    socket.once('connect', () => socket.write(PARTIAL_HELLO));
    sockets.push(socket);
  }
  await Promise.all(sockets.map((s) => (s.connecting ? once(s, 'connect').catch(() => {}) : undefined)));
  return {
    sockets,
    closedBy: (n) => (closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ count: n, resolve }))),
    open: () => sockets.filter((s) => !s.destroyed).length,
    async stop() {
      const live = sockets.filter((s) => !s.closed);
      for (const s of live) s.destroy();
      await Promise.all(live.map((s) => (s.closed ? undefined : once(s, 'close'))));
    },
  };
}

async function legitRoundTrip(port: number, text: string): Promise<string> {
  const socket = tlsClient({
    port,
    bundlePem: pki.bundlePem,
    material: webMaterial,
    extra: FROM_LEGIT,
  });
  await once(socket, 'secureConnect');
  socket.write(text);
  const echoed = await nextData(socket);
  socket.destroy();
  return echoed;
}

t.test('a half-open flood from one source is cut at its cap while another source keeps connecting', async (t) => {
  const perSource = 20;
  const r = await rig(t, { maxPendingHandshakesPerSource: perSource, handshakeTimeoutMs: 60_000 });
  const attempts = 1000;
  const attack = await halfOpen(r.port, '127.0.0.1', attempts);
  await attack.closedBy(attempts - perSource);
  t.equal(attack.open(), perSource, 'only the per-source cap of half-open connections is held');
  t.equal(r.listener.refusals().pending_handshakes_per_source, attempts - perSource, 'the excess is counted');
  for (let i = 0; i < 5; i += 1) {
    t.equal(await legitRoundTrip(r.port, `legit ${i}`), `legit ${i}`, `legitimate connection ${i} from 127.0.0.2`);
  }
  // The attacker's slots come back once it stops: exactly the cap is admitted again, one more is refused.
  await attack.stop();
  await r.listener.pendingHandshakes().none;
  const again = await halfOpen(r.port, '127.0.0.1', perSource + 1);
  await again.closedBy(1);
  t.equal(again.open(), perSource);
  await again.stop();
});

t.test('the listener-wide cap bounds half-open handshakes from many sources', async (t) => {
  const r = await rig(t, { maxPendingHandshakesPerSource: 20, maxPendingHandshakes: 50, handshakeTimeoutMs: 60_000 });
  const attacks = [];
  for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) attacks.push(await halfOpen(r.port, from, 20));
  await Promise.all(attacks.map((a, i) => a.closedBy(i === 2 ? 10 : 0)));
  t.equal(
    attacks.reduce((n, a) => n + a.open(), 0),
    50,
  );
  t.equal(r.listener.refusals().pending_handshakes, 10);
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'pending_handshakes');
  await Promise.all(attacks.map((a) => a.stop()));
  await r.listener.pendingHandshakes().none;
  t.equal(await legitRoundTrip(r.port, 'after'), 'after', 'connections are admitted again once the flood ends');
});

t.test('a completed handshake gives its slot back at once', async (t) => {
  const r = await rig(t, { maxPendingHandshakesPerSource: 2 });
  const open = [];
  for (let i = 0; i < 6; i += 1) {
    const socket = tlsClient({
      port: r.port,
      bundlePem: pki.bundlePem,
      material: webMaterial,
      extra: FROM_LEGIT,
    });
    await once(socket, 'secureConnect');
    socket.write(`c${i}`);
    t.equal(await nextData(socket), `c${i}`);
    open.push(socket);
  }
  t.equal(r.listener.connections().length, 6, 'six established connections from one source with a cap of two');
  t.notOk(r.listener.refusals().pending_handshakes_per_source);
  for (const s of open) s.destroy();
});

t.test('half-close works once the handshake is done, and a FIN mid-handshake frees the slot at once', async (t) => {
  const r = await rig(t, { handshakeTimeoutMs: 60_000 });
  const socket = tlsClient({ port: r.port, bundlePem: pki.bundlePem, material: webMaterial });
  await once(socket, 'secureConnect');
  const received = readToEnd(socket);
  socket.end('half');
  t.equal(await received, 'halfbye', 'the app saw our FIN and still answered');
  const quitter = await halfOpen(r.port, '127.0.0.1', 1);
  quitter.sockets[0]?.end();
  await r.listener.pendingHandshakes().none;
  t.pass('the slot was released long before the 60 s handshake timeout');
  await quitter.stop();
});

t.test('a client trickling its handshake is dropped at the handshake timeout', async (t) => {
  const r = await rig(t, { handshakeTimeoutMs: 300 });
  const socket = connect({ host: '127.0.0.1', port: r.port });
  socket.on('error', () => {});
  await once(socket, 'connect');
  // A handshake record announcing 512 bytes, then its body a byte every 50 ms: an idle timer would never fire.
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
  let sent = 0;
  const drip = setInterval(() => {
    if (!socket.destroyed) socket.write(Buffer.from([0x00]));
    sent += 1;
  }, 50);
  await once(socket, 'close');
  clearInterval(drip);
  t.ok(sent >= 3, `the client kept sending (${sent} bytes) until it was dropped`);
  await r.observer.waitFor((e) => e.type === 'refused');
});

t.test('handshake limits are validated', async (t) => {
  const base = { listen: { host: '127.0.0.1', port: 0 }, forward: { host: '127.0.0.1', port: 1 }, idleTimeoutMs: 1000 };
  const deps = { credentials: credentialSourceWith(apiMaterial), verifyPeer: uriSanVerifier() };
  for (const bad of [{ maxPendingHandshakes: 0 }, { maxPendingHandshakesPerSource: 1.5 }, { handshakeTimeoutMs: -1 }]) {
    t.throws(() => new InboundListener({ ...base, ...bad }, deps), { code: 'SIGIL_ERR_CONFIG_INVALID' });
  }
});
