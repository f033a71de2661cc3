import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { generateKeyPair } from '../../common/key-pair.ts';
import { describeProblem, parseRetryAfter } from './acme-problem.ts';
import { ariCertificateId, parseRenewalInfo } from './renewal-info.ts';

x509.cryptoProvider.set(globalThis.crypto);

async function certificate(serial: string, akiHex: string | undefined): Promise<Uint8Array> {
  const keys = await generateKeyPair('ec-p256');
  const extensions = akiHex ? [new x509.AuthorityKeyIdentifierExtension(akiHex)] : [];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: 'CN=a.example.test',
    issuer: 'CN=issuer',
    notBefore: new Date(Date.UTC(2026, 0, 1)),
    notAfter: new Date(Date.UTC(2026, 3, 1)),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

t.test('ARI certificate identifier', async (t) => {
  // The worked example of RFC 9773 section 4.1: the serial's high bit is set, so its DER content has a 00 byte.
  const rfc = await certificate('0087654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
  t.equal(ariCertificateId(rfc), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', 'RFC 9773 example');
  const small = await certificate('0102', '0a0b');
  t.equal(ariCertificateId(small), 'Cgs.AQI', 'no padding byte for a serial below 0x80');
  const none = await certificate('01', undefined);
  t.throws(() => ariCertificateId(none), { code: 'SIGIL_ERR_ACME_UNSUPPORTED' }, 'no AKI: no identifier');
});

t.test('renewal information bodies', async (t) => {
  const good = {
    suggestedWindow: { start: '2026-03-01T00:00:00Z', end: '2026-03-03T00:00:00Z' },
    explanationURL: 'https://ca.example/why',
  };
  t.same(parseRenewalInfo(good), {
    window: { start: Date.UTC(2026, 2, 1), end: Date.UTC(2026, 2, 3) },
    explanationUrl: 'https://ca.example/why',
  });
  const cases: [string, unknown][] = [
    ['end before start', { suggestedWindow: { start: '2026-03-03T00:00:00Z', end: '2026-03-01T00:00:00Z' } }],
    ['end equal to start', { suggestedWindow: { start: '2026-03-03T00:00:00Z', end: '2026-03-03T00:00:00Z' } }],
    ['no window', {}],
    ['not a date', { suggestedWindow: { start: 'soon', end: 'later' } }],
    ['not an object', 'text'],
  ];
  for (const [name, body] of cases) t.equal(parseRenewalInfo(body), undefined, name);
});

t.test('Retry-After: seconds or an HTTP date', async (t) => {
  const now = Date.UTC(2026, 0, 1, 12);
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 13:00:00 GMT', now), 3_600_000);
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now), 0, 'a past date means now');
  t.equal(parseRetryAfter('whenever', now), undefined);
  t.equal(parseRetryAfter(undefined, now), undefined);
});

t.test('problem documents read as one line', async (t) => {
  t.equal(
    describeProblem({ type: 'urn:ietf:params:acme:error:connection', status: 400, detail: 'refused\nby peer' }),
    'connection (HTTP 400): refused by peer',
  );
  t.equal(
    describeProblem({
      type: 'urn:ietf:params:acme:error:rejectedIdentifier',
      subproblems: [{ type: 'urn:ietf:params:acme:error:caa', identifier: { value: 'b.example' }, detail: 'CAA' }],
    }),
    'rejectedIdentifier; b.example: caa: CAA',
  );
  t.equal(describeProblem(undefined), 'no problem document');
});
