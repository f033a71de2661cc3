import t from 'tap';
import { webcrypto } from 'node:crypto';
import { ErrorCode, isSigilError } from './errors.ts';
import { parseX509Facts } from './x509-facts.ts';
import type { X509Facts } from './x509-facts.ts';
import { validateSigningCa, validateSvidLeaf } from './svid-validator.ts';
import type { SvidPurpose } from './svid-validator.ts';
import { makeCert, makeTestPki } from '../test/fixtures/cert-factory.ts';
import type { CertSpec, TestKey } from '../test/fixtures/cert-factory.ts';

const TD = 'example.org';
const ID = 'spiffe://example.org/ns/default/sa/api';
const pki = await makeTestPki(TD);
const rsaPki = await makeTestPki(TD, { keyType: 'rsa-2048' });
const HOUR = 3_600_000;
const realNow = Date.now();

async function facts(overrides: CertSpec = {}, id = ID): Promise<X509Facts> {
  return parseX509Facts((await pki.issueSvid(id, overrides)).der);
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSigilError(err, ErrorCode.SVID_INVALID)) return String(err.details.reason);
    throw err;
  }
  return 'accepted';
}

async function p521Key(): Promise<TestKey> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  // The declared type is a lie on purpose: the factory must mint a key the policy refuses.
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, keyPem: '', type: 'ec-p256' };
}

t.test('conformant SVIDs pass and yield their SPIFFE ID', async (t) => {
  for (const purpose of ['client', 'server', 'any'] as const) {
    t.equal(validateSvidLeaf(await facts(), { trustDomain: TD, purpose, now: realNow }).uri, ID);
  }
  const rsa = parseX509Facts((await rsaPki.issueSvid(ID)).der);
  t.equal(validateSvidLeaf(rsa, { trustDomain: TD, purpose: 'any' }).path, '/ns/default/sa/api');
});

interface LeafCase {
  readonly name: string;
  readonly spec?: CertSpec;
  readonly id?: string;
  readonly purpose?: SvidPurpose;
  readonly now?: number;
  readonly tweak?: (f: X509Facts) => X509Facts;
  readonly reason: string;
}

const leafCases: LeafCase[] = [
  { name: 'no URI SAN', spec: { uris: [] }, reason: 'uri-san-count' },
  { name: 'two URI SANs', spec: { uris: [ID, 'spiffe://example.org/other'] }, reason: 'uri-san-count' },
  { name: 'an https URI', spec: { uris: ['https://example.org/a'] }, reason: 'not-spiffe' },
  {
    name: 'a URI with a comma read as one SAN',
    spec: { uris: ['spiffe://example.org/a,URI:spiffe://example.org/b'] },
    reason: 'not-spiffe',
  },
  { name: 'the trust-domain ID', id: 'spiffe://example.org', reason: 'no-path' },
  { name: 'a foreign trust domain', id: 'spiffe://other.org/a', reason: 'trust-domain' },
  { name: 'CA:true', spec: { isCa: true }, reason: 'ca-leaf' },
  { name: 'keyCertSign on a leaf', spec: { keyUsage: ['digitalSignature', 'keyCertSign'] }, reason: 'ca-leaf' },
  { name: 'cRLSign on a leaf', spec: { keyUsage: ['digitalSignature', 'cRLSign'] }, reason: 'ca-leaf' },
  { name: 'no digitalSignature', spec: { keyUsage: ['keyEncipherment'] }, reason: 'key-usage' },
  { name: 'no keyUsage extension', spec: { omitKeyUsage: true }, reason: 'key-usage' },
  { name: 'server-only EKU used as client', spec: { extKeyUsage: ['serverAuth'] }, purpose: 'client', reason: 'eku' },
  { name: 'client-only EKU used as server', spec: { extKeyUsage: ['clientAuth'] }, purpose: 'server', reason: 'eku' },
  { name: 'code-signing EKU', spec: { extKeyUsage: ['codeSigning'] }, purpose: 'any', reason: 'eku' },
  {
    name: 'expired',
    spec: { notBefore: new Date(realNow - 2 * HOUR), notAfter: new Date(realNow - HOUR) },
    now: realNow,
    reason: 'expired',
  },
  {
    name: 'not yet valid',
    spec: { notBefore: new Date(realNow + HOUR), notAfter: new Date(realNow + 2 * HOUR) },
    now: realNow,
    reason: 'not-yet-valid',
  },
  { name: 'a SHA-1 signature', tweak: (f) => ({ ...f, signatureHash: 'SHA-1' }), reason: 'signature' },
  { name: 'an RSA-1024 key', tweak: (f) => ({ ...f, publicKey: { kind: 'rsa', modulusBits: 1024 } }), reason: 'key' },
  // Accepted variants, so each rule is shown to be the one that fires.
  { name: 'no EKU extension at all', spec: { omitExtKeyUsage: true }, purpose: 'client', reason: 'accepted' },
  {
    name: 'server-only EKU used as server',
    spec: { extKeyUsage: ['serverAuth'] },
    purpose: 'server',
    reason: 'accepted',
  },
  {
    name: 'expired but no clock given',
    spec: { notBefore: new Date(realNow - 2 * HOUR), notAfter: new Date(realNow - HOUR) },
    reason: 'accepted',
  },
];

t.test('each broken leaf rule is refused with its reason', async (t) => {
  for (const c of leafCases) {
    const f = await facts(c.spec, c.id);
    const input = c.tweak ? c.tweak(f) : f;
    const opts = { trustDomain: TD, purpose: c.purpose ?? 'any', ...(c.now === undefined ? {} : { now: c.now }) };
    t.equal(
      reasonOf(() => validateSvidLeaf(input, opts)),
      c.reason,
      c.name,
    );
  }
});

t.test('a P-521 key is refused by the key policy', async (t) => {
  const f = parseX509Facts((await pki.issueSvid(ID, { key: await p521Key() })).der);
  t.same(f.publicKey, { kind: 'ec', namedCurve: 'P-521' });
  t.equal(
    reasonOf(() => validateSvidLeaf(f, { trustDomain: TD, purpose: 'any' })),
    'key',
  );
});

t.test('SPIFFE ID rule violations are not-spiffe', async (t) => {
  const bad = [
    'SPIFFE://example.org/a',
    'spiffe://Example.org/a',
    'spiffe://example.org:443/a',
    'spiffe://user@example.org/a',
    'spiffe://example.org/a/',
    'spiffe://example.org//a',
    'spiffe://example.org/a/../b',
    'spiffe://example.org/./a',
    'spiffe://example.org/a?x=1',
    'spiffe://example.org/a#frag',
    'spiffe://example.org/a%2Fb',
    'spiffe://example.org/a b',
    `spiffe://example.org/${'a'.repeat(2100)}`,
  ];
  for (const uri of bad) {
    const f = await facts({ uris: [uri] });
    t.equal(
      reasonOf(() => validateSvidLeaf(f, { trustDomain: TD, purpose: 'any' })),
      'not-spiffe',
      uri.slice(0, 60),
    );
  }
});

t.test('validateSigningCa accepts the test intermediate and refuses broken ones', async (t) => {
  t.equal(
    reasonOf(() => validateSigningCa(parseX509Facts(pki.intermediate.der), TD, realNow)),
    'accepted',
  );
  const ca = (spec: CertSpec) =>
    makeCert({
      isCa: true,
      pathLen: 0,
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris: [`spiffe://${TD}`],
      issuer: pki.root,
      ...spec,
    });
  const cases: Array<[string, CertSpec, string]> = [
    ['CA:false', { isCa: false }, 'not-ca'],
    ['no basicConstraints', { omitBasicConstraints: true }, 'not-ca'],
    ['non-critical basicConstraints', { basicConstraintsCritical: false }, 'basic-constraints'],
    ['pathLen 1', { pathLen: 1 }, 'path-len'],
    ['no pathLen', { pathLen: undefined }, 'path-len'],
    ['no cRLSign', { keyUsage: ['keyCertSign'] }, 'key-usage'],
    ['no URI SAN', { uris: [] }, 'uri-san-count'],
    ['a path in the URI SAN', { uris: [`spiffe://${TD}/ca`] }, 'trust-domain'],
    ['another trust domain', { uris: ['spiffe://other.org'] }, 'trust-domain'],
    ['expired', { notBefore: new Date(realNow - 2 * HOUR), notAfter: new Date(realNow - HOUR) }, 'expired'],
  ];
  for (const [name, spec, reason] of cases) {
    const f = parseX509Facts((await ca(spec)).der);
    t.equal(
      reasonOf(() => validateSigningCa(f, TD, realNow)),
      reason,
      name,
    );
  }
});

t.test('a certificate from the future names how far this clock is behind (issue 21 item 13)', async (t) => {
  const f = await facts({ notBefore: new Date(realNow + 10 * 60_000), notAfter: new Date(realNow + HOUR) });
  t.throws(() => validateSvidLeaf(f, { trustDomain: TD, purpose: 'any', now: realNow }), {
    code: ErrorCode.SVID_INVALID,
    message:
      /(9 min 59|10 min 0) s after this host's clock .*at least that far behind its issuer's; fix time synchronisation/,
  });
});
