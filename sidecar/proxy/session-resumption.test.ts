import t, { type Test } from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import type { CredentialSource } from '../identity/credential-source.ts';
import { InboundListener, type InboundListenerOptions } from './inbound-listener.ts';
import { OutboundListener, type OutboundListenerOptions } from './outbound-listener.ts';
import type { PeerInfo } from './peer-info.ts';
import {
  connectPlain,
  credentialSourceWith,
  materialFor,
  RecordingObserver,
  startEchoApp,
  uriSanVerifier,
  type ObservedEvent,
} from './proxy-test-kit.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const pki = await makeTestPki(TD);
const apiMaterial = await materialFor(pki, API);
const webMaterial = await materialFor(pki, WEB);

interface RigOptions {
  readonly inbound?: Partial<InboundListenerOptions>;
  readonly outbound?: Partial<OutboundListenerOptions>;
  readonly inboundClock?: FakeClock;
  readonly outboundClock?: FakeClock;
}

/** web app → [outbound listener (web)] → [inbound listener (api)] → echo app, with deny lists on both sides. */
async function rig(t: Test, options: RigOptions = {}) {
  const app = await startEchoApp();
  const deniedClients = new Set<string>();
  const deniedServers = new Set<string>();
  const inboundObserver = new RecordingObserver();
  const outboundObserver = new RecordingObserver();
  const inboundPeers: PeerInfo[] = [];
  const serverCredentials: CredentialSource = credentialSourceWith(apiMaterial);
  const clientCredentials: CredentialSource = credentialSourceWith(webMaterial);
  const inbound = new InboundListener(
    {
      listen: { host: '127.0.0.1', port: 0 },
      forward: { host: '127.0.0.1', port: app.port },
      idleTimeoutMs: 30_000,
      ...options.inbound,
    },
    {
      credentials: serverCredentials,
      verifyPeer: uriSanVerifier(),
      authorizePeer: (peer) => {
        inboundPeers.push(peer);
        return deniedClients.has(peer.serial) ? { allowed: false, reason: 'denied by test' } : { allowed: true };
      },
      observer: inboundObserver,
      ...(options.inboundClock ? { clock: options.inboundClock } : {}),
    },
  );
  await inbound.start();
  const outbound = new OutboundListener(
    {
      listen: { port: 0 },
      upstream: { host: '127.0.0.1', port: inbound.address().port },
      expect: API,
      idleTimeoutMs: 30_000,
      ...options.outbound,
    },
    {
      credentials: clientCredentials,
      verifyPeer: uriSanVerifier(),
      authorizePeer: (peer) =>
        deniedServers.has(peer.serial) ? { allowed: false, reason: 'denied by test' } : { allowed: true },
      observer: outboundObserver,
      ...(options.outboundClock ? { clock: options.outboundClock } : {}),
    },
  );
  await outbound.start();
  t.teardown(async () => {
    await outbound.stop({ drainTimeoutMs: 0 });
    await inbound.stop({ drainTimeoutMs: 0 });
    await app.close();
  });
  /** One request through the whole path; resolves with the echo, or '' when a side refused. */
  const roundTrip = async (): Promise<string> => {
    const client = await connectPlain(outbound.address().port);
    t.teardown(() => client.destroy());
    // A refusal shows as a close (or a reset) with nothing sent back.
    client.on('error', () => {});
    client.write('ping');
    const reply = await new Promise<string>((resolve) => {
      client.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      client.once('end', () => resolve(''));
      client.once('close', () => resolve(''));
    });
    client.destroy();
    return reply;
  };
  return {
    inbound,
    outbound,
    inboundObserver,
    outboundObserver,
    inboundPeers,
    deniedClients,
    deniedServers,
    serverCredentials,
    clientCredentials,
    roundTrip,
  };
}

const modes = (observer: RecordingObserver) =>
  observer.events.flatMap((e: ObservedEvent) => (e.type === 'session' ? [e.mode] : []));

t.test('repeated connections resume on both sides, with the peer identity restored from the ticket', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 5; i++) t.equal(await r.roundTrip(), 'ping');
  t.same(modes(r.outboundObserver), ['full', 'resumed', 'resumed', 'resumed', 'resumed']);
  t.same(modes(r.inboundObserver), ['full', 'resumed', 'resumed', 'resumed', 'resumed']);
  t.same(
    new Set(r.inboundPeers.map((p) => `${p.identity.spiffeId} ${p.serial}`)),
    new Set([`${WEB} ${webMaterial.serial.toUpperCase()}`]),
    'every resumed connection was authorised as the certificate of the full handshake',
  );
  t.ok(r.outbound.cachedSessions > 0, 'tickets are cached');
});

t.test('resumption: false gives full handshakes only', async (t) => {
  for (const side of ['both', 'inbound', 'outbound'] as const) {
    const r = await rig(t, {
      ...(side !== 'outbound' ? { inbound: { resumption: false } } : {}),
      ...(side !== 'inbound' ? { outbound: { resumption: false } } : {}),
    });
    for (let i = 0; i < 3; i++) t.equal(await r.roundTrip(), 'ping');
    t.same(modes(r.outboundObserver), ['full', 'full', 'full'], `${side} off: outbound`);
    t.same(modes(r.inboundObserver), ['full', 'full', 'full'], `${side} off: inbound`);
  }
});

t.test('a resumed connection from a client revoked since the full handshake is refused', async (t) => {
  const r = await rig(t);
  t.equal(await r.roundTrip(), 'ping');
  r.deniedClients.add(webMaterial.serial.toUpperCase());
  t.equal(await r.roundTrip(), '', 'refused');
  t.same(modes(r.outboundObserver), ['full', 'resumed'], 'the refused connection was a resumption');
  t.same(modes(r.inboundObserver), ['full'], 'the inbound side authorised only the first');
  t.equal(r.inbound.refusals().not_authorized, 1);
  await r.outboundObserver.waitFor((e) => e.type === 'refused' && e.reason === 'refused_by_peer');
  t.equal(r.outbound.cachedSessions, 0, 'the refused client drops the tickets of that server');
});

t.test('a resumption to a server revoked since is refused and its tickets dropped', async (t) => {
  const r = await rig(t);
  t.equal(await r.roundTrip(), 'ping');
  t.ok(r.outbound.cachedSessions > 0);
  r.deniedServers.add(apiMaterial.serial.toUpperCase());
  t.equal(await r.roundTrip(), '', 'refused');
  t.equal(r.outbound.refusals().not_authorized, 1);
  t.equal(r.outbound.cachedSessions, 0, 'no ticket of the revoked server is offered again');
});

t.test('forgetSessionsWhere drops the tickets of matching servers', async (t) => {
  const r = await rig(t);
  t.equal(await r.roundTrip(), 'ping');
  const cached = r.outbound.cachedSessions;
  t.equal(
    r.outbound.forgetSessionsWhere((s) => s.spiffeId === API && s.serial === apiMaterial.serial.toUpperCase()),
    cached,
  );
  t.equal(await r.roundTrip(), 'ping');
  t.same(modes(r.outboundObserver), ['full', 'full']);
});

t.test('a ticket does not outlive the client certificate it was issued to', async (t) => {
  // The inbound clock alone moves past the client's notAfter, so the client still offers its ticket and the
  // server's check at resumption is what refuses. Ticket keys outlast the jump so the ticket still decrypts.
  const clock = new FakeClock(Date.now());
  const r = await rig(t, { inboundClock: clock, inbound: { ticketKeyRotationMs: 48 * 3_600_000 } });
  t.equal(await r.roundTrip(), 'ping');
  clock.set(webMaterial.notAfter + 1);
  t.equal(await r.roundTrip(), '', 'refused');
  t.equal(r.inbound.refusals().session_expired, 1);
  t.same(modes(r.outboundObserver), ['full', 'resumed']);
});

t.test('the outbound side stops offering a ticket once its server certificate or own SVID expired', async (t) => {
  const clock = new FakeClock(Date.now());
  const r = await rig(t, { outboundClock: clock });
  t.equal(await r.roundTrip(), 'ping');
  t.equal(await r.roundTrip(), 'ping');
  clock.set(Math.min(apiMaterial.notAfter, webMaterial.notAfter) + 1);
  t.equal(r.outbound.cachedSessions > 0, true);
  // The real clock says the certificates are valid, so the full handshake that follows succeeds.
  t.equal(await r.roundTrip(), 'ping');
  t.same(modes(r.outboundObserver), ['full', 'resumed', 'full']);
});

t.test('ticket keys rotate on schedule: the next connection is a full handshake', async (t) => {
  const clock = new FakeClock(Date.now());
  const r = await rig(t, { inboundClock: clock, inbound: { ticketKeyRotationMs: 60_000 } });
  t.equal(await r.roundTrip(), 'ping');
  t.equal(await r.roundTrip(), 'ping');
  clock.advance(60_000);
  t.equal(await r.roundTrip(), 'ping');
  t.equal(await r.roundTrip(), 'ping');
  t.same(modes(r.inboundObserver), ['full', 'resumed', 'full', 'resumed']);
});

t.test('a renewal of the server SVID keeps its tickets valid', async (t) => {
  const r = await rig(t);
  t.equal(await r.roundTrip(), 'ping');
  r.serverCredentials.update(await materialFor(pki, API));
  t.equal(await r.roundTrip(), 'ping');
  t.same(modes(r.inboundObserver), ['full', 'resumed']);
});

t.test('a new trust bundle ends resumption on both sides at once', async (t) => {
  const other = await makeTestPki(TD);
  const bundle = `${pki.bundlePem}${other.bundlePem}`;
  for (const side of ['inbound', 'outbound'] as const) {
    const r = await rig(t);
    t.equal(await r.roundTrip(), 'ping');
    t.equal(await r.roundTrip(), 'ping');
    (side === 'inbound' ? r.serverCredentials : r.clientCredentials).updateBundle(bundle);
    t.equal(await r.roundTrip(), 'ping');
    t.equal(await r.roundTrip(), 'ping');
    t.same(modes(r.inboundObserver), ['full', 'resumed', 'full', 'resumed'], `bundle changed ${side}`);
  }
});
