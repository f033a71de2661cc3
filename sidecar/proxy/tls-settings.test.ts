import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import { constants } from 'node:crypto';
import { resolveServerSessionSettings, resolveTlsSettings } from './tls-settings.ts';

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
