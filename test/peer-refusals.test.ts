import t from 'tap';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { makeTestPki, type TestPki } from './fixtures/cert-factory.ts';
import { svidPeerVerifier } from '../sidecar/peer-verifier.ts';
import { InboundListener } from '../sidecar/proxy/inbound-listener.ts';
import { OutboundListener } from '../sidecar/proxy/outbound-listener.ts';
import type { TlsMaterial } from '../sidecar/identity/credential-source.ts';
import {
  credentialSourceWith,
  materialFor,
  RecordingObserver,
  sendAndAwaitEnd,
  startEchoApp,
  tlsClient,
} from '../sidecar/proxy/proxy-test-kit.ts';

// Issue 3, "peers that must be refused", with the real X.509-SVID validator of common/ in both roles.
const TD = 'example.org';
const SELF = `spiffe://${TD}/ns/prod/sa/self`;
const PEER = `spiffe://${TD}/ns/prod/sa/peer`;
const pki = await makeTestPki(TD);
const self = await materialFor(pki, SELF);
const hour = 3_600_000;

async function peerMaterial(
  p: TestPki,
  overrides: Parameters<TestPki['issueSvid']>[1] = {},
  id = PEER,
): Promise<TlsMaterial> {
  const svid = await p.issueSvid(id, overrides);
  return {
    certChainPem: svid.chainPem,
    keyPem: svid.key.keyPem,
    bundlePem: p.bundlePem,
    spiffeId: id,
    serial: svid.serial,
    notAfter: Date.now() + hour,
  };
}

const otherCa = await makeTestPki(TD);
const cases: Array<{ name: string; material: () => Promise<TlsMaterial>; inbound: RegExp }> = [
  {
    name: 'a certificate from another CA with the same trust-domain name',
    material: () => peerMaterial(otherCa),
    inbound: /untrusted_certificate/,
  },
  {
    name: 'an expired certificate',
    material: () =>
      peerMaterial(pki, { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) }),
    inbound: /untrusted_certificate|handshake_failed/,
  },
  {
    name: 'a not-yet-valid certificate',
    material: () =>
      peerMaterial(pki, { notBefore: new Date(Date.now() + hour), notAfter: new Date(Date.now() + 2 * hour) }),
    inbound: /untrusted_certificate|handshake_failed/,
  },
  {
    name: 'a leaf with CA:true',
    material: () => peerMaterial(pki, { isCa: true, keyUsage: ['digitalSignature', 'keyCertSign'] }),
    inbound: /invalid_svid|untrusted_certificate/,
  },
  {
    name: 'a leaf with keyCertSign',
    material: () => peerMaterial(pki, { keyUsage: ['digitalSignature', 'keyCertSign'] }),
    inbound: /invalid_svid/,
  },
  {
    name: 'two URI SANs',
    material: () => peerMaterial(pki, { uris: [PEER, `spiffe://${TD}/ns/prod/sa/other`] }),
    inbound: /invalid_svid/,
  },
  {
    name: 'no URI SAN',
    material: () => peerMaterial(pki, { uris: [], dnsNames: ['peer.example.org'] }),
    inbound: /invalid_svid/,
  },
  {
    name: 'a non-spiffe URI',
    material: () => peerMaterial(pki, { uris: ['https://example.org/peer'] }),
    inbound: /invalid_svid/,
  },
  {
    name: 'a trust-domain ID without a path',
    material: () => peerMaterial(pki, { uris: [`spiffe://${TD}`] }),
    inbound: /invalid_svid/,
  },
];

t.test('inbound refuses each bad client certificate before the app sees a byte', async (t) => {
  const app = await startEchoApp();
  const observer = new RecordingObserver();
  const listener = new InboundListener(
    { listen: { host: '127.0.0.1', port: 0 }, forward: { host: '127.0.0.1', port: app.port }, idleTimeoutMs: 10_000 },
    { credentials: credentialSourceWith(self), verifyPeer: svidPeerVerifier(TD, 'client'), observer },
  );
  await listener.start();
  t.teardown(async () => {
    await listener.stop({ drainTimeoutMs: 0 });
    await app.close();
  });
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const before = Object.values(listener.refusals()).reduce((a, b) => a + (b ?? 0), 0);
      const outcome = await sendAndAwaitEnd(
        tlsClient({ port: listener.address().port, bundlePem: pki.bundlePem, material: await c.material() }),
      );
      await observer.waitFor(
        (e) => e.type === 'refused' && Object.values(listener.refusals()).reduce((a, b) => a + (b ?? 0), 0) > before,
      );
      const reasons = Object.entries(listener.refusals())
        .filter(([, n]) => (n ?? 0) > 0)
        .map(([r]) => r)
        .join(',');
      t.match(reasons, c.inbound, 'counted under the expected reason');
      t.equal(outcome.data, '');
      t.same(app.received, [], 'the app saw nothing');
    });
  }
});

t.test('outbound refuses each bad server certificate and a wrong SPIFFE ID', async (t) => {
  const serverCases = [
    ...cases.map((c) => ({ name: c.name, material: c.material })),
    {
      name: 'the wrong SPIFFE ID for expect',
      material: () => peerMaterial(pki, {}, `spiffe://${TD}/ns/prod/sa/impostor`),
    },
  ];
  for (const c of serverCases) {
    await t.test(c.name, async (t) => {
      const m = await c.material();
      let served = 0;
      const upstream = createTlsServer(
        { cert: m.certChainPem, key: m.keyPem, ca: pki.bundlePem, requestCert: true },
        (s) => {
          served++;
          s.end('secret');
        },
      );
      upstream.on('tlsClientError', () => {});
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      const observer = new RecordingObserver();
      const outbound = new OutboundListener(
        {
          listen: { port: 0 },
          upstream: { host: '127.0.0.1', port: (upstream.address() as { port: number }).port },
          expect: PEER,
          idleTimeoutMs: 10_000,
        },
        { credentials: credentialSourceWith(self), verifyPeer: svidPeerVerifier(TD, 'server'), observer },
      );
      await outbound.start();
      t.teardown(async () => {
        await outbound.stop({ drainTimeoutMs: 0 });
        upstream.close();
      });
      const client = connect({ host: '127.0.0.1', port: outbound.address().port });
      let data = '';
      client.on('data', (d) => {
        data += d.toString();
      });
      client.on('error', () => {});
      await once(client, 'close');
      await observer.waitFor((e) => e.type === 'refused');
      t.equal(data, '', 'no byte from the refused upstream reached the app');
      t.ok(
        Object.values(outbound.refusals()).some((n) => (n ?? 0) > 0),
        `refused: ${JSON.stringify(outbound.refusals())}`,
      );
      void served;
    });
  }
});
