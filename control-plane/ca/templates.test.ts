import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import { seededRandomBytes } from './seeded-random-bytes.ts';
import {
  DAY_MS,
  INTERMEDIATE_TTL_MS,
  LEAF_TTL_MS,
  ROOT_TTL_MS,
  intermediateTemplate,
  leafTemplate,
  randomSerial,
  rootTemplate,
  validity,
  type CertificateTemplate,
  type IssuerFacts,
} from './templates.ts';

// 12:00:00.500, so rounding to whole seconds is visible.
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
const SKI = 'aa'.repeat(20);
const ISSUER_SKI = 'bb'.repeat(20);
const issuer: IssuerFacts = {
  subject: 'CN=Test issuer, O=Sigil',
  notBefore: NOW - DAY_MS,
  notAfter: NOW + 30 * DAY_MS,
  subjectKeyId: ISSUER_SKI,
};
const spiffeId = parseSpiffeId('spiffe://example.org/ns/prod/sa/api');

const OID = {
  bc: '2.5.29.19',
  ku: '2.5.29.15',
  eku: '2.5.29.37',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
  san: '2.5.29.17',
};

function ext<T extends x509.Extension>(
  template: CertificateTemplate,
  oid: string,
  type: new (raw: ArrayBuffer) => T,
): T {
  const found = template.extensions.find((e) => e.type === oid);
  if (!found) throw new Error(`extension ${oid} missing`);
  return new type(found.rawData);
}

function sans(template: CertificateTemplate): string[] {
  return ext(template, OID.san, x509.SubjectAlternativeNameExtension).names.items.map((n) => `${n.type}:${n.value}`);
}

t.test('serials: 16 bytes, top bit clear, never zero, reproducible from the seed', async (t) => {
  const fixed =
    (byte: number, first = byte) =>
    () =>
      Uint8Array.from([first, ...new Array(15).fill(byte)]);
  const cases: Array<[string, () => Uint8Array, string]> = [
    ['all ones: top bit cleared', fixed(0xff), `7f${'ff'.repeat(15)}`],
    ['all zero: made non-zero', fixed(0x00), `01${'00'.repeat(15)}`],
    ['0x80 first: becomes 0x00, then 0x01', fixed(0x80, 0x80), `01${'80'.repeat(15)}`],
    ['ordinary', fixed(0x12, 0x3c), `3c${'12'.repeat(15)}`],
  ];
  for (const [name, source, expected] of cases) t.equal(randomSerial(source), expected, name);
  t.equal(randomSerial(seededRandomBytes('a')), randomSerial(seededRandomBytes('a')), 'same seed, same serial');
  t.not(randomSerial(seededRandomBytes('a')), randomSerial(seededRandomBytes('b')), 'other seed, other serial');
  t.throws(() => randomSerial(() => new Uint8Array(8)), RangeError);
});

t.test('validity: backdated at most 60 s, whole seconds, never past the issuer', async (t) => {
  const cases: Array<[string, number, IssuerFacts | undefined, { notBefore: number; notAfter: number }]> = [
    [
      'no issuer',
      3_600_000,
      undefined,
      { notBefore: Date.UTC(2026, 0, 1, 11, 59, 1), notAfter: Date.UTC(2026, 0, 1, 13, 0, 0) },
    ],
    [
      'clamped to the issuer',
      90 * DAY_MS,
      issuer,
      { notBefore: Date.UTC(2026, 0, 1, 11, 59, 1), notAfter: Date.UTC(2026, 0, 31, 12, 0, 0) },
    ],
    [
      'not before the issuer',
      3_600_000,
      { ...issuer, notBefore: NOW - 10_000 },
      { notBefore: Date.UTC(2026, 0, 1, 11, 59, 51), notAfter: Date.UTC(2026, 0, 1, 13, 0, 0) },
    ],
  ];
  for (const [name, ttl, iss, expected] of cases) {
    const v = validity(NOW, ttl, iss);
    t.same(v, expected, name);
    t.ok(NOW - v.notBefore <= 60_000, `${name}: backdate within 60 s`);
  }
});

t.test('validity refuses bad TTLs and expired issuers', async (t) => {
  for (const ttl of [0, -1, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
    t.throws(() => validity(NOW, ttl), { code: ErrorCode.INVALID_ARGUMENT }, `ttl ${ttl}`);
  }
  t.throws(() => validity(NOW, LEAF_TTL_MS, { ...issuer, notAfter: NOW - 1 }), { code: ErrorCode.CA_EXPIRED });
  t.throws(
    () => validity(NOW, LEAF_TTL_MS, { ...issuer, notAfter: NOW + 400 }),
    { code: ErrorCode.CA_EXPIRED },
    'less than a second left',
  );
});

t.test('root: self-signed CA, keyCertSign+cRLSign critical, SKI, 10 years by default', async (t) => {
  const root = rootTemplate({
    trustDomain: 'example.org',
    now: NOW,
    subjectKeyId: SKI,
    randomBytes: seededRandomBytes('root'),
  });
  t.equal(root.subject, root.issuer);
  t.match(root.subject, /^CN=Sigil root CA [0-9a-f]{16}, O=Sigil$/);
  t.equal(root.notAfter.getTime(), Math.floor((NOW + ROOT_TTL_MS) / 1000) * 1000);
  const bc = ext(root, OID.bc, x509.BasicConstraintsExtension);
  t.same([bc.critical, bc.ca, bc.pathLength], [true, true, undefined]);
  const ku = ext(root, OID.ku, x509.KeyUsagesExtension);
  t.same([ku.critical, ku.usages], [true, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign]);
  t.equal(ext(root, OID.ski, x509.SubjectKeyIdentifierExtension).keyId, SKI);
  t.same(sans(root), ['url:spiffe://example.org']);
  t.notOk(
    root.extensions.some((e) => e.type === OID.aki),
    'no AKI on a self-signed root',
  );
});

t.test(
  'intermediate: pathLen 0, trust-domain URI SAN, AKI = issuer SKI, 1 year by default, within the root',
  async (t) => {
    const longIssuer = { ...issuer, notAfter: NOW + 10 * 365 * DAY_MS };
    const cases: Array<[string, IssuerFacts, number | undefined, number]> = [
      ['default TTL', longIssuer, undefined, Math.floor((NOW + INTERMEDIATE_TTL_MS) / 1000) * 1000],
      ['clamped to the root', issuer, undefined, issuer.notAfter - 500],
      ['custom TTL', longIssuer, 7 * DAY_MS, Math.floor((NOW + 7 * DAY_MS) / 1000) * 1000],
    ];
    for (const [name, iss, ttlMs, notAfter] of cases) {
      const tpl = intermediateTemplate({
        trustDomain: 'example.org',
        now: NOW,
        subjectKeyId: SKI,
        issuer: iss,
        randomBytes: seededRandomBytes(name),
        ...(ttlMs ? { ttlMs } : {}),
      });
      t.equal(tpl.notAfter.getTime(), notAfter, `${name}: notAfter`);
      t.equal(tpl.issuer, iss.subject, `${name}: issuer name`);
      const bc = ext(tpl, OID.bc, x509.BasicConstraintsExtension);
      t.same([bc.critical, bc.ca, bc.pathLength], [true, true, 0], `${name}: basicConstraints`);
      const ku = ext(tpl, OID.ku, x509.KeyUsagesExtension);
      t.same(
        [ku.critical, ku.usages],
        [true, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign],
        `${name}: keyUsage`,
      );
      t.equal(ext(tpl, OID.aki, x509.AuthorityKeyIdentifierExtension).keyId, ISSUER_SKI, `${name}: AKI`);
      t.same(sans(tpl), ['url:spiffe://example.org'], `${name}: SAN`);
    }
  },
);

t.test('leaf: the SVID profile, per key type', async (t) => {
  const cases = [
    { keyType: 'ec-p256', usages: x509.KeyUsageFlags.digitalSignature },
    { keyType: 'ec-p384', usages: x509.KeyUsageFlags.digitalSignature },
    { keyType: 'rsa-2048', usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment },
    { keyType: 'rsa-4096', usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment },
  ] as const;
  for (const { keyType, usages } of cases) {
    const leaf = leafTemplate({
      spiffeId,
      keyType,
      now: NOW,
      subjectKeyId: SKI,
      issuer,
      randomBytes: seededRandomBytes(keyType),
    });
    const bc = ext(leaf, OID.bc, x509.BasicConstraintsExtension);
    t.same([bc.critical, bc.ca], [true, false], `${keyType}: CA:false critical`);
    const ku = ext(leaf, OID.ku, x509.KeyUsagesExtension);
    t.same([ku.critical, ku.usages], [true, usages], `${keyType}: keyUsage`);
    t.same(
      ext(leaf, OID.eku, x509.ExtendedKeyUsageExtension).usages,
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      `${keyType}: EKU`,
    );
    t.same(sans(leaf), [`url:${spiffeId.uri}`], `${keyType}: exactly one URI SAN`);
    t.equal(ext(leaf, OID.ski, x509.SubjectKeyIdentifierExtension).keyId, SKI);
    t.equal(ext(leaf, OID.aki, x509.AuthorityKeyIdentifierExtension).keyId, ISSUER_SKI);
    t.equal(leaf.notAfter.getTime(), Math.floor((NOW + LEAF_TTL_MS) / 1000) * 1000, `${keyType}: 1 h by default`);
    t.match(leaf.serialNumber, /^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/);
  }
});

t.test('leaf: DNS and IP SANs for the serving SVID, canonical IPs, bad names refused', async (t) => {
  const leaf = leafTemplate({
    spiffeId,
    keyType: 'ec-p256',
    now: NOW,
    subjectKeyId: SKI,
    issuer,
    randomBytes: seededRandomBytes('sans'),
    dnsNames: ['localhost', 'cp.example.org'],
    ipAddresses: ['127.0.0.1', '0:0::1'],
  });
  t.same(sans(leaf), [`url:${spiffeId.uri}`, 'dns:localhost', 'dns:cp.example.org', 'ip:127.0.0.1', 'ip:::1']);
  const base = {
    spiffeId,
    keyType: 'ec-p256',
    now: NOW,
    subjectKeyId: SKI,
    issuer,
    randomBytes: seededRandomBytes('x'),
  } as const;
  const bad: Array<[string, object, string]> = [
    ['trust-domain ID', { spiffeId: parseSpiffeId('spiffe://example.org') }, ErrorCode.SPIFFE_ID_INVALID],
    ['DNS with a space', { dnsNames: ['bad name'] }, ErrorCode.INVALID_ARGUMENT],
    ['wildcard DNS', { dnsNames: ['*.example.org'] }, ErrorCode.INVALID_ARGUMENT],
    ['not an IP', { ipAddresses: ['300.1.1.1'] }, ErrorCode.INVALID_ARGUMENT],
    ['IPv6 zone', { ipAddresses: ['fe80::1%eth0'] }, ErrorCode.INVALID_ARGUMENT],
    ['expired issuer', { issuer: { ...issuer, notAfter: NOW - 1000 } }, ErrorCode.CA_EXPIRED],
  ];
  for (const [name, override, code] of bad) t.throws(() => leafTemplate({ ...base, ...override }), { code }, name);
});

t.test('templates are pure: same inputs, same bytes', async (t) => {
  const make = () =>
    leafTemplate({
      spiffeId,
      keyType: 'ec-p256',
      now: NOW,
      subjectKeyId: SKI,
      issuer,
      randomBytes: seededRandomBytes('pure'),
    });
  const [a, b] = [make(), make()];
  t.equal(a.serialNumber, b.serialNumber);
  t.same(
    a.extensions.map((e) => Buffer.from(e.rawData).toString('hex')),
    b.extensions.map((e) => Buffer.from(e.rawData).toString('hex')),
  );
  t.same([a.notBefore, a.notAfter, a.subject, a.issuer], [b.notBefore, b.notAfter, b.subject, b.issuer]);
});
