import t, { type Test } from 'tap';
import { once } from 'node:events';
import { ErrorCode } from '../../common/errors.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import type { CredentialSource, TlsMaterial } from '../identity/credential-source.ts';
import { InboundListener, type InboundListenerOptions } from './inbound-listener.ts';
import type { AuthorizePeer, PeerInfo } from './peer-info.ts';
import {
  credentialSourceWith,
  materialFor,
  nextData,
  RecordingObserver,
  sendAndAwaitEnd,
  startEchoApp,
  tlsClient,
  uriSanVerifier,
  type EchoApp,
} from './proxy-test-kit.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const BATCH = `spiffe://${TD}/ns/batch/sa/job`;
const pki = await makeTestPki(TD);
const apiMaterial = await materialFor(pki, API);
const webMaterial = await materialFor(pki, WEB);
const batchMaterial = await materialFor(pki, BATCH);

interface Rig {
  readonly listener: InboundListener;
  readonly port: number;
  readonly app: EchoApp;
  readonly source: CredentialSource;
  readonly observer: RecordingObserver;
  readonly peers: PeerInfo[];
  readonly verifyCalls: { count: number };
}

async function rig(
  t: Test,
  options: Partial<InboundListenerOptions> = {},
  deps: { authorizePeer?: AuthorizePeer; verifyPeer?: (der: Buffer) => { spiffeId: string } } = {},
): Promise<Rig> {
  const app = await startEchoApp();
  const source = credentialSourceWith(apiMaterial);
  const observer = new RecordingObserver();
  const peers: PeerInfo[] = [];
  const verifyCalls = { count: 0 };
  const authorize = deps.authorizePeer ?? (() => ({ allowed: true }) as const);
  const listener = new InboundListener(
    {
      listen: { host: '127.0.0.1', port: 0 },
      forward: { host: '127.0.0.1', port: app.port },
      idleTimeoutMs: 30_000,
      ...options,
    },
    {
      credentials: source,
      verifyPeer: deps.verifyPeer ?? uriSanVerifier(verifyCalls),
      authorizePeer: (peer) => {
        peers.push(peer);
        return authorize(peer);
      },
      observer,
    },
  );
  await listener.start();
  t.teardown(async () => {
    await listener.stop({ drainTimeoutMs: 0 });
    await app.close();
  });
  return { listener, port: listener.address().port, app, source, observer, peers, verifyCalls };
}

function client(r: Rig, material?: TlsMaterial, extra = {}) {
  return tlsClient({ port: r.port, bundlePem: pki.bundlePem, ...(material ? { material } : {}), extra });
}

async function echoRoundTrip(socket: ReturnType<typeof client>, text: string): Promise<string> {
  if (socket.connecting || !socket.authorized) await once(socket, 'secureConnect');
  socket.write(text);
  return nextData(socket);
}

t.test('forwards an authenticated client to the app and reports who it is', async (t) => {
  const r = await rig(t);
  const c1 = client(r, webMaterial);
  t.equal(await echoRoundTrip(c1, 'hello'), 'hello');
  t.equal(r.app.received[0], 'hello');
  const [peer] = r.peers;
  t.equal(peer?.identity.spiffeId, WEB);
  t.equal(peer?.serial.toLowerCase(), webMaterial.serial);
  t.equal(peer?.localPort, r.port);
  t.same(
    r.listener.connections().map((c) => c.peer.identity.spiffeId),
    [WEB],
  );
  const c2 = client(r, webMaterial);
  await echoRoundTrip(c2, 'again');
  t.equal(r.verifyCalls.count, 1, 'the certificate was parsed once for two connections');
  await r.observer.waitFor((e) => e.type === 'bytes' && e.flow === 'upstream_to_downstream');
});

t.test('refuses peers before any byte reaches the app', async (t) => {
  const otherPki = await makeTestPki(TD);
  const strangerMaterial = await materialFor(otherPki, WEB);
  const twoUris = await pki.issueSvid(WEB, { uris: [WEB, BATCH] });
  const twoUriMaterial = {
    ...webMaterial,
    certChainPem: twoUris.chainPem,
    keyPem: twoUris.key.keyPem,
    serial: twoUris.serial,
  };
  const cases = [
    { name: 'no client certificate', material: undefined, reason: 'no_peer_certificate' },
    {
      name: 'certificate from another CA of the same trust domain',
      material: strangerMaterial,
      reason: 'untrusted_certificate',
    },
    { name: 'certificate the SVID validator refuses', material: twoUriMaterial, reason: 'invalid_svid' },
    { name: 'peer the authorizer denies', material: batchMaterial, reason: 'not_authorized' },
  ] as const;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await rig(
        t,
        {},
        {
          authorizePeer: (p) =>
            p.identity.spiffeId === BATCH ? { allowed: false, reason: 'revoked' } : { allowed: true },
        },
      );
      const outcome = await sendAndAwaitEnd(client(r, c.material));
      await r.observer.waitFor((e) => e.type === 'refused' && e.reason === c.reason);
      t.equal(outcome.data, '', 'the client got nothing back');
      t.same(r.app.received, [], 'the app never saw the connection');
      t.equal(r.listener.refusals()[c.reason], 1, `counted as ${c.reason}`);
    });
  }
});

t.test('refuses TLS 1.1 and, by default, TLS 1.2', async (t) => {
  const r = await rig(t);
  // At the default security level OpenSSL will not even offer TLS 1.1; SECLEVEL=0 makes the client try.
  const legacy = await sendAndAwaitEnd(
    client(r, webMaterial, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
  );
  t.ok(legacy.error, 'TLS 1.1 handshake failed');
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'unsupported_protocol');
  const tls12 = await sendAndAwaitEnd(client(r, webMaterial, { maxVersion: 'TLSv1.2' }));
  t.ok(tls12.error, 'TLS 1.2 handshake failed');
  t.equal(r.listener.refusals().unsupported_protocol, 2);
  t.same(r.app.received, []);
});

t.test('with minTlsVersion TLSv1.2, accepts AEAD suites and refuses CBC', async (t) => {
  const r = await rig(t, { minTlsVersion: 'TLSv1.2' });
  const ok = client(r, webMaterial, { maxVersion: 'TLSv1.2' });
  t.equal(await echoRoundTrip(ok, 'v12'), 'v12');
  t.equal(ok.getProtocol(), 'TLSv1.2');
  t.match(ok.getCipher().name, /GCM|CHACHA20/);
  const cbc = await sendAndAwaitEnd(
    client(r, webMaterial, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }),
  );
  t.ok(cbc.error, 'CBC-only client refused');
});

t.test('refuses connections beyond maxConnections', async (t) => {
  const r = await rig(t, { maxConnections: 1 });
  const first = client(r, webMaterial);
  t.equal(await echoRoundTrip(first, 'one'), 'one');
  const second = await sendAndAwaitEnd(client(r, webMaterial));
  t.equal(second.data, '');
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'max_connections');
  t.equal(r.listener.refusals().max_connections, 1);
  t.equal(await echoRoundTrip(first, 'still'), 'still', 'the admitted connection is unaffected');
});

t.test('closes idle connections and connections past their lifetime', async (t) => {
  const cases = [
    { name: 'idle', options: { idleTimeoutMs: 200 }, reason: 'idle_timeout' },
    { name: 'lifetime', options: { idleTimeoutMs: 30_000, maxConnectionLifetimeMs: 200 }, reason: 'max_lifetime' },
  ] as const;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const r = await rig(t, c.options);
      const socket = client(r, webMaterial);
      await echoRoundTrip(socket, 'x');
      const ended = once(socket, 'end');
      const event = await r.observer.waitFor((e) => e.type === 'closed');
      t.same(event, { type: 'closed', direction: 'inbound', reason: c.reason });
      await ended;
      t.equal(r.listener.connections().length, 0);
    });
  }
});

t.test('hot swap: open connections keep going, new ones get the new SVID', async (t) => {
  const r = await rig(t);
  const old = client(r, webMaterial);
  await echoRoundTrip(old, 'before');
  t.equal(old.getPeerX509Certificate()?.serialNumber.toLowerCase(), apiMaterial.serial);
  const renewed = await materialFor(pki, API);
  r.source.update(renewed);
  t.equal(await echoRoundTrip(old, 'after'), 'after', 'the old connection still works');
  const fresh = client(r, webMaterial);
  await echoRoundTrip(fresh, 'new');
  t.equal(
    fresh.getPeerX509Certificate()?.serialNumber.toLowerCase(),
    renewed.serial,
    'new handshake presents the new serial',
  );
  t.notOk(
    r.observer.events.some((e) => e.type === 'refused'),
    'no failed handshakes across the swap',
  );
});

t.test('closeWhere closes only the matching live connections', async (t) => {
  const r = await rig(t);
  const web = client(r, webMaterial);
  const batch = client(r, batchMaterial);
  await Promise.all([echoRoundTrip(web, 'w'), echoRoundTrip(batch, 'b')]);
  const webEnded = once(web, 'end');
  t.equal(
    r.listener.closeWhere((c) => c.peer.identity.spiffeId === WEB),
    1,
  );
  await webEnded;
  t.same(await r.observer.waitFor((e) => e.type === 'closed'), {
    type: 'closed',
    direction: 'inbound',
    reason: 'closed_by_request',
  });
  t.equal(await echoRoundTrip(batch, 'still'), 'still');
});

t.test('stop() drains in-flight connections and refuses new ones', async (t) => {
  const r = await rig(t);
  const inFlight = client(r, webMaterial);
  await echoRoundTrip(inFlight, 'start');
  const stopped = r.listener.stop({ drainTimeoutMs: 10_000 });
  const late = await sendAndAwaitEnd(client(r, webMaterial));
  t.match(late.error, { code: 'ECONNREFUSED' }, 'new connections are refused');
  t.equal(await echoRoundTrip(inFlight, 'finish'), 'finish', 'the in-flight connection keeps working');
  inFlight.end();
  t.same(await stopped, { forcedClosed: 0 });
});

t.test('stop() destroys what is still open after drainTimeoutMs', async (t) => {
  const r = await rig(t);
  const lingering = client(r, webMaterial);
  await echoRoundTrip(lingering, 'x');
  const ended = once(lingering, 'end');
  t.same(await r.listener.stop({ drainTimeoutMs: 200 }), { forcedClosed: 1 });
  await ended;
});

t.test('refuses when the app is unreachable', async (t) => {
  const r = await rig(t);
  await r.app.close();
  const outcome = await sendAndAwaitEnd(client(r, webMaterial));
  t.equal(outcome.data, '');
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'app_unreachable');
});

t.test('start() needs published credentials; options are validated', async (t) => {
  const { CredentialSource } = await import('../identity/credential-source.ts');
  const { resolveTlsSettings } = await import('./tls-settings.ts');
  const empty = new CredentialSource({ clientTls: resolveTlsSettings() });
  const base = { listen: { host: '127.0.0.1', port: 0 }, forward: { host: '127.0.0.1', port: 1 }, idleTimeoutMs: 1000 };
  const deps = { credentials: empty, verifyPeer: uriSanVerifier() };
  await t.rejects(new InboundListener(base, deps).start(), { code: ErrorCode.UNAVAILABLE });
  const bad = [
    { ...base, idleTimeoutMs: -1 },
    { ...base, maxConnections: 0 },
    { ...base, forward: { host: '127.0.0.1', port: 0 } },
    { ...base, listen: { host: '', port: 0 } },
    { ...base, minTlsVersion: 'TLSv1.1' as never },
  ];
  for (const options of bad) t.throws(() => new InboundListener(options, deps), { code: ErrorCode.CONFIG_INVALID });
});

t.test('withdrawn credentials: new connections are refused until an SVID is published again', async (t) => {
  const r = await rig(t);
  r.source.clear('svid expired');
  const outcome = await sendAndAwaitEnd(client(r, webMaterial));
  await r.observer.waitFor((e) => e.type === 'refused' && e.reason === 'no_credentials');
  t.equal(outcome.data, '', 'nothing was served with the withdrawn SVID');
  t.same(r.app.received, []);
  r.source.update(apiMaterial);
  t.equal(await echoRoundTrip(client(r, webMaterial), 'back'), 'back', 'a renewed SVID serves again');
});
