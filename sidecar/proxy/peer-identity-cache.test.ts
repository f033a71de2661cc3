import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { PeerIdentityCache, type DescribeCertificate } from './peer-identity-cache.ts';

const der = (text: string): Buffer => Buffer.from(text);

const describe: DescribeCertificate = (d) => ({
  serial: `SERIAL-${d.toString()}`,
  fingerprint256: `FP-${d.toString()}`,
  notAfter: 0,
});

function counting(): { calls: string[]; verify: (d: Buffer) => { spiffeId: string } } {
  const calls: string[] = [];
  return {
    calls,
    verify: (d) => {
      const text = d.toString();
      calls.push(text);
      if (text.startsWith('bad')) throw new SigilError(ErrorCode.SVID_INVALID, 'bad');
      return { spiffeId: `spiffe://example.org/${text}` };
    },
  };
}

t.test('validates each certificate once', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, describe });
  t.same(cache.identify(der('a')), {
    identity: { spiffeId: 'spiffe://example.org/a' },
    serial: 'SERIAL-a',
    fingerprint256: 'FP-a',
    notAfter: 0,
  });
  t.equal(cache.identify(der('a')).identity.spiffeId, 'spiffe://example.org/a');
  cache.identify(der('b'));
  t.same(v.calls, ['a', 'b']);
});

t.test('does not cache refusals', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, describe });
  t.throws(() => cache.identify(der('bad')), { code: ErrorCode.SVID_INVALID });
  t.throws(() => cache.identify(der('bad')), { code: ErrorCode.SVID_INVALID });
  t.same(v.calls, ['bad', 'bad']);
  t.equal(cache.size, 0);
});

t.test('evicts the least recently used entry past maxEntries', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, describe, maxEntries: 2 });
  cache.identify(der('a'));
  cache.identify(der('b'));
  cache.identify(der('a')); // a is now the most recent
  cache.identify(der('c')); // evicts b
  t.equal(cache.size, 2);
  cache.identify(der('a'));
  cache.identify(der('b'));
  t.same(v.calls, ['a', 'b', 'c', 'b']);
});

t.test('clear() forces revalidation', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, describe });
  cache.identify(der('a'));
  cache.clear();
  cache.identify(der('a'));
  t.same(v.calls, ['a', 'a']);
});

t.test('certificates that differ in one byte are different entries', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, describe });
  cache.identify(Buffer.from([0x61, 0xff]));
  cache.identify(Buffer.from([0x61, 0xfe]));
  cache.identify(Buffer.from([0x61, 0xff]));
  t.equal(v.calls.length, 2);
  t.equal(cache.size, 2);
});

t.test('by default the serial, fingerprint and notAfter are those Node reports for the certificate', async (t) => {
  const pki = await makeTestPki();
  const svid = await pki.issueSvid('spiffe://example.org/ns/a/sa/b');
  const raw = Buffer.from(new X509Certificate(svid.chainPem).raw);
  const cache = new PeerIdentityCache({ verifyPeer: () => ({ spiffeId: 'spiffe://example.org/ns/a/sa/b' }) });
  const cert = new X509Certificate(raw);
  t.same(cache.identify(raw), {
    identity: { spiffeId: 'spiffe://example.org/ns/a/sa/b' },
    serial: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    notAfter: cert.validToDate.getTime(),
  });
});
