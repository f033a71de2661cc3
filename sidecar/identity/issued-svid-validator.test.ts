import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import { spkiSha256 } from '../../common/key-pair.ts';
import { makeCert, makeKey, makeTestPki, type TestCert } from '../../test/fixtures/cert-factory.ts';
import type { IssuedSvidWire } from './identity-api.ts';
import { validateIssuedSvid } from './issued-svid-validator.ts';

const ID = 'spiffe://example.org/ns/prod/sa/web';
const pki = await makeTestPki('example.org');
const key = await makeKey();
const spki = spkiSha256(new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', key.publicKey)));
const now = pki.intermediate.cert.notBefore.getTime() + 60_000;
const trust = { trustDomain: 'example.org', roots: [pki.root.der], bundleSequence: 3 };
const expected = { spiffeId: ID, trustDomain: 'example.org', spkiSha256: spki, now };
const wire = (leaf: TestCert, intermediates: Uint8Array[] = [pki.intermediate.der]): IssuedSvidWire => ({
  chain: [leaf.der, ...intermediates],
  trust,
});

t.test('accepts a conformant SVID for our ID and key, chaining to the returned roots', async (t) => {
  const leaf = await pki.issueSvid(ID, { key });
  const v = validateIssuedSvid(wire(leaf), expected);
  t.equal(v.leaf.serial, leaf.serial);
  t.equal(v.certChainPem, leaf.pem + pki.intermediate.pem, 'leaf first, then the intermediate');
  t.equal(v.bundle.pem, pki.bundlePem);
  t.equal(v.bundle.sequence, 3);
});

t.test('refuses what must not be served, naming the rule', async (t) => {
  const sloppyIntermediate = await makeCert({
    subject: 'CN=no uri san',
    isCa: true,
    pathLen: 0,
    keyUsage: ['keyCertSign', 'cRLSign'],
    issuer: pki.root,
  });
  const cases = [
    {
      name: 'another SPIFFE ID',
      wire: wire(await pki.issueSvid('spiffe://example.org/other', { key })),
      code: ErrorCode.SVID_INVALID,
      reason: 'spiffe-id-mismatch',
    },
    { name: 'another key', wire: wire(await pki.issueSvid(ID)), code: ErrorCode.SVID_INVALID, reason: 'key-mismatch' },
    {
      name: 'intermediate missing',
      wire: wire(await pki.issueSvid(ID, { key }), []),
      code: ErrorCode.SVID_UNTRUSTED,
      reason: 'no-chain',
    },
    {
      name: 'signing CA outside the profile',
      wire: wire(await pki.issueSvid(ID, { key, issuer: sloppyIntermediate }), [sloppyIntermediate.der]),
      code: ErrorCode.SVID_INVALID,
      reason: 'uri-san-count',
    },
    {
      name: 'not yet valid',
      wire: wire(await pki.issueSvid(ID, { key, notBefore: new Date(now + 60_000) })),
      code: ErrorCode.SVID_INVALID,
      reason: 'not-yet-valid',
    },
    {
      name: 'server-only EKU',
      wire: wire(await pki.issueSvid(ID, { key, extKeyUsage: ['serverAuth'] })),
      code: ErrorCode.SVID_UNTRUSTED,
      reason: 'eku',
    },
    {
      name: 'trust of another domain',
      wire: { ...wire(await pki.issueSvid(ID, { key })), trust: { ...trust, trustDomain: 'other.org' } },
      code: ErrorCode.SVID_UNTRUSTED,
      reason: 'trust-domain',
    },
  ];
  for (const c of cases) {
    t.throws(() => validateIssuedSvid(c.wire, expected), { code: c.code, details: { reason: c.reason } }, c.name);
  }
});
