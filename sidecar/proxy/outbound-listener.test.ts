import t, { type Test } from 'tap';
import { once } from 'node:events';
import { ErrorCode } from '../../common/errors.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import { InboundListener } from './inbound-listener.ts';
import { OutboundListener, type OutboundListenerOptions } from './outbound-listener.ts';
import type { PeerInfo } from './peer-info.ts';
import {
  connectPlain,
  credentialSourceWith,
  materialFor,
  nextData,
  readToEnd,
  RecordingObserver,
  startEchoApp,
  uriSanVerifier,
} from './proxy-test-kit.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const pki = await makeTestPki(TD);
const apiMaterial = await materialFor(pki, API);
const webMaterial = await materialFor(pki, WEB);

/** web app → [outbound listener (web's SVID)] → [inbound listener (api's SVID)] → echo app */
async function rig(t: Test, options: Partial<OutboundListenerOptions> = {}, serverMaterial: TlsMaterial = apiMaterial) {
  const app = await startEchoApp();
  const inboundPeers: PeerInfo[] = [];
  const inbound = new InboundListener(
    { listen: { host: '127.0.0.1', port: 0 }, forward: { host: '127.0.0.1', port: app.port }, idleTimeoutMs: 30_000 },
    {
      credentials: credentialSourceWith(serverMaterial),
      verifyPeer: uriSanVerifier(),
      authorizePeer: (peer) => (inboundPeers.push(peer), { allowed: true }),
    },
  );
  await inbound.start();
  const observer = new RecordingObserver();
  const outboundPeers: PeerInfo[] = [];
  const outbound = new OutboundListener(
    {
      listen: { port: 0 },
      upstream: { host: '127.0.0.1', port: inbound.address().port },
      expect: API,
      idleTimeoutMs: 30_000,
      ...options,
    },
    {
      credentials: credentialSourceWith(webMaterial),
      verifyPeer: uriSanVerifier(),
      authorizePeer: (peer) => (outboundPeers.push(peer), { allowed: true }),
      observer,
    },
  );
  await outbound.start();
  t.teardown(async () => {
    await outbound.stop({ drainTimeoutMs: 0 });
    await inbound.stop({ drainTimeoutMs: 0 });
    await app.close();
  });
  const port = outbound.address().port;
  const connect = async () => {
    const client = await connectPlain(port);
    t.teardown(() => client.destroy());
    return client;
  };
  return { app, inbound, outbound, observer, inboundPeers, outboundPeers, port, connect };
}

t.test('end to end: bytes arrive and each side sees the other SPIFFE ID', async (t) => {
  const r = await rig(t);
  t.equal(r.outbound.address().address, '127.0.0.1', 'plaintext side is on loopback');
  const client = await r.connect();
  client.write('ping');
  t.equal(await nextData(client), 'ping');
  t.equal(r.app.received[0], 'ping');
  t.equal(r.inboundPeers[0]?.identity.spiffeId, WEB, 'the server side saw the client workload');
  t.equal(r.outboundPeers[0]?.identity.spiffeId, API, 'the client side saw the server workload');
  t.equal(r.outboundPeers[0]?.serial.toLowerCase(), apiMaterial.serial);
  t.same(
    r.outbound.connections().map((c) => c.peer.identity.spiffeId),
    [API],
  );
  await r.observer.waitFor((e) => e.type === 'handshake' && e.outcome === 'ok');
});

t.test('half-close travels end to end: the client still gets the reply after ending its side', async (t) => {
  const r = await rig(t);
  const client = await r.connect();
  const received = readToEnd(client);
  client.end('request');
  t.equal(await received, 'requestbye', 'echo plus the reply the app sent after seeing end-of-stream');
  t.same(await r.observer.waitFor((e) => e.type === 'closed'), {
    type: 'closed',
    direction: 'outbound',
    reason: 'done',
  });
});

t.test('accepts any ID of an expect list', async (t) => {
  const r = await rig(t, { expect: ['spiffe://example.org/other', API] });
  const client = await r.connect();
  client.write('x');
  t.equal(await nextData(client), 'x');
});

t.test('refusals close the plaintext client without forwarding a byte', async (t) => {
  const otherPki = await makeTestPki(TD);
  const stranger = await materialFor(otherPki, API);
  const cases = [
    {
      name: 'upstream presents another SPIFFE ID',
      options: { expect: 'spiffe://example.org/ns/prod/sa/db' },
      server: apiMaterial,
      reason: 'unexpected_peer',
    },
    { name: 'upstream certificate from another CA', options: {}, server: stranger, reason: 'untrusted_certificate' },
    {
      name: 'upstream unreachable',
      options: { upstream: { host: '127.0.0.1', port: 1 } },
      server: apiMaterial,
      reason: 'upstream_unreachable',
    },
  ] as const;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await rig(t, c.options, c.server);
      const client = await r.connect();
      client.on('error', () => {});
      const received = readToEnd(client);
      client.write('secret');
      t.equal(await received, '', 'the client connection was closed with nothing sent back');
      await r.observer.waitFor((e) => e.type === 'refused' && e.reason === c.reason);
      t.equal(r.outbound.refusals()[c.reason], 1);
      t.same(r.app.received, [], 'nothing reached the remote app');
    });
  }
});

t.test('refuses connections beyond maxConnections', async (t) => {
  const r = await rig(t, { maxConnections: 1 });
  const first = await r.connect();
  first.write('1');
  await nextData(first);
  const second = await r.connect();
  second.on('error', () => {});
  await readToEnd(second);
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'max_connections');
  first.write('2');
  t.equal(await nextData(first), '2');
});

t.test('idle timeout closes the proxied connection', async (t) => {
  const r = await rig(t, { idleTimeoutMs: 200 });
  const client = await r.connect();
  client.write('x');
  await nextData(client);
  const ended = once(client, 'end');
  t.same(await r.observer.waitFor((e) => e.type === 'closed'), {
    type: 'closed',
    direction: 'outbound',
    reason: 'idle_timeout',
  });
  await ended;
});

t.test('closeWhere and stop() with drain', async (t) => {
  const r = await rig(t);
  const a = await r.connect();
  const b = await r.connect();
  a.write('a');
  b.write('b');
  await Promise.all([nextData(a), nextData(b)]);
  const aEnded = once(a, 'end');
  t.equal(
    r.outbound.closeWhere((c) => c.id === r.outbound.connections()[0]?.id),
    1,
  );
  await aEnded;
  const stopped = r.outbound.stop({ drainTimeoutMs: 10_000 });
  const late = await r.connect().then(
    () => 'connected',
    (err: NodeJS.ErrnoException) => err.code,
  );
  t.equal(late, 'ECONNREFUSED', 'no new connections while draining');
  b.write('still');
  t.equal(await nextData(b), 'still', 'in-flight connection keeps working');
  b.end();
  t.same(await stopped, { forcedClosed: 0 });
});

t.test('options are validated', async (t) => {
  const base = { listen: { port: 0 }, upstream: { host: '127.0.0.1', port: 1 }, expect: API, idleTimeoutMs: 1000 };
  const deps = { credentials: credentialSourceWith(webMaterial), verifyPeer: uriSanVerifier() };
  for (const options of [
    { ...base, expect: [] },
    { ...base, upstream: { host: '127.0.0.1', port: 0 } },
    { ...base, maxConnectionLifetimeMs: -5 },
  ]) {
    t.throws(() => new OutboundListener(options, deps), { code: ErrorCode.CONFIG_INVALID });
  }
});
