import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import { constants } from 'node:crypto';
import { resolveClientTlsSettings, resolveServerSessionSettings, resolveTlsSettings } from './tls-settings.ts';

t.test('defaults to TLS 1.3 only with TLS 1.3 suites', async (t) => {
  const s = resolveTlsSettings();
  t.equal(s.minVersion, 'TLSv1.3');
  t.equal(s.maxVersion, 'TLSv1.3');
  t.ok(
    s.ciphers.split(':').every((c) => c.startsWith('TLS_')),
    'only TLS 1.3 suite names',
  );
});

t.test('TLS 1.2 adds only forward-secret AEAD suites', async (t) => {
  const suites = resolveTlsSettings({ minVersion: 'TLSv1.2' }).ciphers.split(':');
  const tls12 = suites.filter((c) => !c.startsWith('TLS_'));
  t.ok(tls12.length > 0);
  for (const suite of tls12) {
    t.match(suite, /^ECDHE-(ECDSA|RSA)-/, `${suite} has ECDHE key exchange`);
    t.match(suite, /(GCM|CHACHA20-POLY1305)/, `${suite} is AEAD`);
    t.notMatch(suite, /CBC|-SHA$|RC4|3DES|NULL/, `${suite} is not CBC or legacy`);
  }
});

t.test('refuses anything but TLSv1.2 and TLSv1.3', async (t) => {
  for (const minVersion of ['TLSv1.1', 'TLSv1', 'SSLv3', 'tlsv1.3', '']) {
    t.throws(() => resolveTlsSettings({ minVersion }), { code: ErrorCode.CONFIG_INVALID }, minVersion);
  }
});

t.test('server session settings: tickets for the rotation interval, none when resumption is off', async (t) => {
  t.same(resolveServerSessionSettings({ resumption: true, ticketLifetimeMs: 3_600_000 }), { sessionTimeout: 3600 });
  t.same(resolveServerSessionSettings({ resumption: false, ticketLifetimeMs: 3_600_000 }), {
    sessionTimeout: 3600,
    secureOptions: constants.SSL_OP_NO_TICKET,
  });
  for (const ticketLifetimeMs of [0, 999, Number.NaN, Number.POSITIVE_INFINITY])
    t.throws(() => resolveServerSessionSettings({ resumption: true, ticketLifetimeMs }), {
      code: ErrorCode.CONFIG_INVALID,
    });
});

t.test('client settings: one hybrid post-quantum key share, X25519 or P-256 after a retry', async (t) => {
  const { makeTestPki } = await import('../../test/fixtures/cert-factory.ts');
  const { createSecureContext, createServer, connect } = await import('node:tls');
  const pki = await makeTestPki();
  const svid = await pki.issueSvid('spiffe://example.org/ns/a/sa/server');
  const client = resolveClientTlsSettings();
  t.equal(client.ecdhCurve, 'X25519MLKEM768:X25519:P-256');
  t.equal(client.ciphers, resolveTlsSettings().ciphers, 'same protocol and suites as the servers');
  const context = createSecureContext({ ...client, ca: pki.bundlePem });
  const negotiated = async (serverGroups: string): Promise<string | undefined> => {
    const server = createServer({ key: svid.key.keyPem, cert: svid.chainPem, ecdhCurve: serverGroups }, (s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const socket = connect({ host: '127.0.0.1', port, secureContext: context, checkServerIdentity: () => undefined });
      await new Promise((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      const group = (socket.getEphemeralKeyInfo() as { name?: string }).name;
      socket.destroy();
      return group;
    } finally {
      server.close();
    }
  };
  t.equal(await negotiated('auto'), 'X25519MLKEM768', "a default Node server takes the client's hybrid share");
  t.equal(await negotiated('X25519:P-256'), 'X25519', 'a server without the hybrid group still connects');
  t.equal(await negotiated('P-256'), 'prime256v1', 'and one with P-256 only');
});
