import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { execFile } from 'node:child_process';
import { KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportSpki, generateKeyPair } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import { leafProfileViolations } from './certificate-validator.ts';
import { bytesOf, childrenOf, readTlv } from './der-tlv.ts';
import { mintCa } from './mint-ca.ts';
import { seededRandomBytes } from './seeded-random-bytes.ts';
import { keyIdentifier, signCertificate } from './sign-certificate.ts';
import { SvidDerTemplate, type SvidFields } from './svid-der-template.ts';
import { leafTemplate } from './templates.ts';

// Issue 18: SVIDs after the first of each key type are assembled from a DER template instead of the ASN.1 library.
// These tests hold the template to the library byte for byte, and its certificates to openssl and the validator.
const run = promisify(execFile);
const TD = 'example.org';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

const tbsOf = (der: Uint8Array) => bytesOf(der, childrenOf(der, readTlv(der, 0))[0]!);

/** SPIFFE IDs whose SAN crosses each DER length form (short, one length octet, two length octets). */
const IDS = [
  `spiffe://${TD}/a`,
  `spiffe://${TD}/ns/prod/sa/api`,
  `spiffe://${TD}/${'x'.repeat(120)}`,
  `spiffe://${TD}/${'seg/'.repeat(60)}end`,
  `spiffe://${TD}/${'y'.repeat(1900)}`,
];

const pairs: Array<[KeyType, KeyType]> = [
  ['ec-p256', 'ec-p256'],
  ['ec-p384', 'ec-p256'],
  ['ec-p256', 'ec-p384'],
  ['rsa-2048', 'rsa-2048'],
];

async function libraryLeaf(
  ca: Awaited<ReturnType<typeof mintCa>>,
  options: { spiffeId: string; keyType: KeyType; caType: KeyType; now: number; ttlMs: number; seed: string },
): Promise<{ der: Uint8Array; fields: SvidFields }> {
  const keys = await generateKeyPair(options.keyType);
  const spki = await exportSpki(keys.publicKey);
  const template = leafTemplate({
    spiffeId: parseSpiffeId(options.spiffeId),
    keyType: options.keyType,
    now: options.now,
    ttlMs: options.ttlMs,
    subjectKeyId: await keyIdentifier(spki),
    issuer: {
      subject: ca.intermediate.cert.subject,
      notBefore: ca.intermediate.cert.notBefore.getTime(),
      notAfter: ca.intermediate.cert.notAfter.getTime(),
      subjectKeyId: ca.ca.intermediate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
    },
    randomBytes: seededRandomBytes(options.seed),
  });
  const cert = await signCertificate({
    template,
    publicKey: keys.publicKey,
    signingKey: ca.intermediate.keys.privateKey,
    signingKeyType: options.caType,
  });
  return {
    der: new Uint8Array(cert.rawData),
    fields: {
      serial: Buffer.from(template.serialNumber, 'hex'),
      notBefore: template.notBefore.getTime(),
      notAfter: template.notAfter.getTime(),
      spki,
      uri: options.spiffeId,
    },
  };
}

t.test('the template rebuilds the library-built TBS byte for byte', async (t) => {
  for (const [caType, leafType] of pairs) {
    const ca = await mintCa({ trustDomain: TD, keyType: caType, now: NOW, randomBytes: seededRandomBytes(caType) });
    const key = KeyObject.from(ca.intermediate.keys.privateKey);
    const first = await libraryLeaf(ca, {
      spiffeId: IDS[1]!,
      keyType: leafType,
      caType,
      now: NOW,
      ttlMs: 3_600_000,
      seed: 'first',
    });
    const template = SvidDerTemplate.derive(first.der, first.fields, { key });
    if (!template) throw new Error(`no template for CA ${caType}, leaf ${leafType}`);
    for (const [i, spiffeId] of IDS.entries()) {
      const now = NOW + i * 7_777_000;
      const other = await libraryLeaf(ca, {
        spiffeId,
        keyType: leafType,
        caType,
        now,
        ttlMs: 60_000 * (i + 1),
        seed: spiffeId,
      });
      t.same(
        Buffer.from(template.tbs(other.fields)).toString('hex'),
        Buffer.from(tbsOf(other.der)).toString('hex'),
        `CA ${caType}, leaf ${leafType}, ${spiffeId.length}-byte ID`,
      );
    }
  }
});

t.test('derive refuses a prototype whose fields it cannot reproduce', async (t) => {
  const ca = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  const key = KeyObject.from(ca.intermediate.keys.privateKey);
  const leaf = await libraryLeaf(ca, {
    spiffeId: IDS[1]!,
    keyType: 'ec-p256',
    caType: 'ec-p256',
    now: NOW,
    ttlMs: 3_600_000,
    seed: 's',
  });
  t.ok(SvidDerTemplate.derive(leaf.der, leaf.fields, { key }), 'the true fields');
  t.notOk(SvidDerTemplate.derive(leaf.der, { ...leaf.fields, uri: IDS[0]! }, { key }), 'another SAN');
  t.notOk(
    SvidDerTemplate.derive(leaf.der, { ...leaf.fields, notAfter: leaf.fields.notAfter + 1000 }, { key }),
    'another time',
  );
  t.notOk(SvidDerTemplate.derive(leaf.der.subarray(0, 40), leaf.fields, { key }), 'a truncated certificate');
});

t.test('SVIDs from the template pass openssl verify and the whole profile validator', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-svid-template-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [caType, leafType] of pairs) {
    const { ca } = await mintCa({ trustDomain: TD, keyType: caType, now: NOW });
    await writeFile(join(dir, 'root.pem'), ca.bundlePem());
    await writeFile(join(dir, 'intermediate.pem'), ca.chainPem());
    for (const [i, spiffeId] of IDS.entries()) {
      const keys = await generateKeyPair(leafType);
      const issued = await ca.issueLeaf({ spiffeId, publicKey: keys.publicKey, now: NOW, ttlMs: 3_600_000 });
      const name = `CA ${caType}, leaf ${leafType}, SVID ${i + 1} (${i === 0 ? 'library' : 'template'})`;
      await writeFile(join(dir, 'svid.pem'), issued.pem);
      const { stdout } = await run('openssl', [
        'verify',
        '-attime',
        String(NOW / 1000 + 60),
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'intermediate.pem'),
        join(dir, 'svid.pem'),
      ]);
      t.match(stdout, /svid\.pem: OK/, `${name}: openssl verify`);
      const cert = new x509.X509Certificate(issued.der);
      const violations = await leafProfileViolations(cert, {
        spiffeId,
        keyType: leafType,
        issuer: ca.intermediate,
        now: NOW,
        dnsNames: [],
        ipAddresses: [],
      });
      t.same(violations, [], `${name}: the profile validator finds nothing`);
      t.equal(issued.serial, cert.serialNumber.toLowerCase(), `${name}: serial`);
      t.equal(issued.pem, `${cert.toString('pem').trim()}\n`, `${name}: PEM as the library writes it`);
      t.ok(ca.hasSvidTemplate(leafType), `${name}: later SVIDs of this key type come from the template`);
    }
  }
});
