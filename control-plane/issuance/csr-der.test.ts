import 'reflect-metadata';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions, SubjectAlternativeName, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readTlv } from '../ca/der-tlv.ts';
import { readCsrParts } from './csr-der.ts';

// readCsrParts walks TLVs instead of decoding with the library's schemas; the library stays the oracle here.

const dir = mkdtempSync(join(tmpdir(), 'sigil-csr-der-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function opensslCsr(name: string, keyArgs: string[], extra: string[]): Uint8Array {
  const key = join(dir, `${name}.key`);
  const out = join(dir, `${name}.der`);
  execFileSync('openssl', ['genpkey', ...keyArgs, '-out', key], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-key', key, '-outform', 'DER', '-out', out, ...extra], { stdio: 'ignore' });
  return new Uint8Array(readFileSync(out));
}

function libraryView(der: Uint8Array) {
  const asn = AsnConvert.parse(der, CertificationRequest);
  const uris: string[] = [];
  for (const attribute of asn.certificationRequestInfo.attributes) {
    if (attribute.type !== '1.2.840.113549.1.9.14') continue;
    for (const value of attribute.values)
      for (const extension of AsnConvert.parse(value, Extensions)) {
        if (extension.extnID !== id_ce_subjectAltName) continue;
        for (const name of AsnConvert.parse(extension.extnValue, SubjectAlternativeName))
          if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
      }
  }
  return {
    signatureAlgorithmOid: asn.signatureAlgorithm.algorithm,
    signature: Buffer.from(asn.signature).toString('hex'),
    spki: Buffer.from(AsnConvert.serialize(asn.certificationRequestInfo.subjectPKInfo)).toString('hex'),
    uris,
  };
}

const P256 = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
const configFile = join(dir, 'challenge.cnf');
writeFileSync(
  configFile,
  [
    '[req]',
    'distinguished_name = dn',
    'attributes = attrs',
    'prompt = no',
    '[dn]',
    'CN = with challenge',
    '[attrs]',
    'challengePassword = not-a-secret',
  ].join('\n'),
);

const cases: Record<string, Uint8Array> = {
  'P-256, one URI SAN': opensslCsr('one', P256, [
    '-subj',
    '/',
    '-addext',
    'subjectAltName=URI:spiffe://example.org/ns/a/sa/b',
  ]),
  'P-384 / SHA-384, URI and DNS SANs, critical': opensslCsr(
    'mixed',
    ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    [
      '-sha384',
      '-subj',
      '/CN=mixed/O=Example',
      '-addext',
      'subjectAltName=critical,DNS:a.example,URI:spiffe://example.org/x,URI:spiffe://example.org/y,IP:127.0.0.1',
      '-addext',
      'keyUsage=digitalSignature',
    ],
  ),
  'RSA-2048, no extensions': opensslCsr(
    'rsa',
    ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    ['-subj', '/CN=rsa'],
  ),
  'Ed25519 (an OID outside the table)': opensslCsr(
    'ed',
    ['-algorithm', 'ED25519'],
    ['-subj', '/CN=ed', '-addext', 'subjectAltName=URI:spiffe://example.org/ed'],
  ),
  'a challengePassword attribute before the extension request': opensslCsr('challenge', P256, [
    '-config',
    configFile,
    '-addext',
    'subjectAltName=URI:spiffe://example.org/c',
  ]),
};

t.test('reads what the library decodes, for requests OpenSSL builds', async (t) => {
  for (const [name, der] of Object.entries(cases)) {
    const parts = readCsrParts(der);
    const oracle = libraryView(der);
    t.same(
      {
        signatureAlgorithmOid: parts.signatureAlgorithmOid,
        signature: Buffer.from(parts.signature).toString('hex'),
        spki: Buffer.from(parts.spki).toString('hex'),
        uris: [...parts.uriSans()],
      },
      oracle,
      name,
    );
    t.ok(parts.signedBytes.length > 0 && parts.signedBytes[0] === 0x30, `${name}: the signed info is a SEQUENCE`);
  }
});

t.test('refuses what is not a well-formed request', async (t) => {
  const good = cases['P-256, one URI SAN'] as Uint8Array;
  const variants: Record<string, Uint8Array> = {
    truncated: good.subarray(0, good.length - 1),
    'a byte after it': Uint8Array.from([...good, 0]),
    'not a SEQUENCE': Uint8Array.from([0x31, ...good.subarray(1)]),
    'version 1': (() => {
      const copy = Uint8Array.from(good);
      // outer SEQUENCE (2-3 octet header), info SEQUENCE, then INTEGER 02 01 00: flip the version value
      const at = copy.indexOf(0x02);
      copy[at + 2] = 1;
      return copy;
    })(),
    'signature with unused bits': (() => {
      const copy = Uint8Array.from(good);
      const info = readCsrParts(good);
      const bitString = good.length - info.signature.length - 3;
      t.equal(copy[bitString], 0x03, 'found the BIT STRING');
      copy[bitString + 2] = 1;
      return copy;
    })(),
    'a length running past its container': (() => {
      const copy = Uint8Array.from(good);
      const info = readTlv(good, readTlv(good, 0).contentStart);
      // Short or one-octet long form: the last header octet is the length's low byte.
      copy[info.contentStart - 1] = (copy[info.contentStart - 1] ?? 0) + 10;
      return copy;
    })(),
  };
  for (const [name, der] of Object.entries(variants)) t.throws(() => readCsrParts(der), RangeError, name);
});

t.test('an unreadable SAN extension is reported when the SANs are read', async (t) => {
  const good = cases['P-256, one URI SAN'] as Uint8Array;
  const uri = Buffer.from('spiffe://example.org/ns/a/sa/b');
  const at = Buffer.from(good).indexOf(uri);
  const copy = Uint8Array.from(good);
  // The GeneralNames SEQUENCE header sits two octets before the URI's own tag and length.
  t.equal(copy[at - 4], 0x30, 'found the GeneralNames header');
  copy[at - 3] = (copy[at - 3] ?? 0) + 5;
  const parts = readCsrParts(copy);
  t.throws(() => parts.uriSans(), RangeError);
});
