import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import { caProfileViolations, leafProfileViolations } from './certificate-validator.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { mintCa } from './mint-ca.ts';
import { seededRandomBytes } from './seeded-random-bytes.ts';
import { keyIdentifier, signCertificate, subjectKeyIdOf } from './sign-certificate.ts';
import { leafTemplate, type CertificateTemplate } from './templates.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const TD = 'example.org';
const ID = `spiffe://${TD}/ns/prod/sa/api`;

const minted = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW, intermediateTtlMs: 30 * 24 * 3_600_000 });
const other = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
const leafKeys = await generateKeyPair('ec-p256');
const issuerCert = minted.intermediate.cert;

async function goodTemplate(): Promise<CertificateTemplate> {
  return leafTemplate({
    spiffeId: parseSpiffeId(ID),
    keyType: 'ec-p256',
    now: NOW,
    subjectKeyId: await keyIdentifier(leafKeys.publicKey),
    issuer: {
      subject: issuerCert.subject,
      notBefore: issuerCert.notBefore.getTime(),
      notAfter: issuerCert.notAfter.getTime(),
      subjectKeyId: subjectKeyIdOf(issuerCert)!,
    },
    randomBytes: seededRandomBytes('v'),
  });
}

function replace(template: CertificateTemplate, oid: string, ...added: x509.Extension[]): CertificateTemplate {
  return { ...template, extensions: [...template.extensions.filter((e) => e.type !== oid), ...added] };
}

async function sign(
  template: CertificateTemplate,
  signingKey = minted.intermediate.signingKey,
): Promise<x509.X509Certificate> {
  return signCertificate({ template, publicKey: leafKeys.publicKey, signingKey, signingKeyType: 'ec-p256' });
}

const expectations = { spiffeId: ID, keyType: 'ec-p256' as const, issuer: issuerCert, now: NOW };

t.test('a certificate built from the leaf template conforms', async (t) => {
  t.same(await leafProfileViolations(await sign(await goodTemplate()), expectations), []);
});

t.test('each broken rule is reported', async (t) => {
  const good = await goodTemplate();
  const cases: Array<[string, () => Promise<x509.X509Certificate>, RegExp]> = [
    [
      'CA:true leaf',
      () => sign(replace(good, '2.5.29.19', new x509.BasicConstraintsExtension(true, undefined, true))),
      /CA:false/,
    ],
    [
      'non-critical basicConstraints',
      () => sign(replace(good, '2.5.29.19', new x509.BasicConstraintsExtension(false, undefined, false))),
      /CA:false/,
    ],
    [
      'keyCertSign on a leaf',
      () =>
        sign(
          replace(
            good,
            '2.5.29.15',
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
          ),
        ),
      /keyUsage/,
    ],
    [
      'non-critical keyUsage',
      () => sign(replace(good, '2.5.29.15', new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, false))),
      /keyUsage/,
    ],
    [
      'serverAuth only',
      () => sign(replace(good, '2.5.29.37', new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]))),
      /extendedKeyUsage/,
    ],
    [
      'two URI SANs',
      () =>
        sign(
          replace(
            good,
            '2.5.29.17',
            new x509.SubjectAlternativeNameExtension([
              { type: 'url', value: ID },
              { type: 'url', value: `${ID}2` },
            ]),
          ),
        ),
      /exactly one URI SAN/,
    ],
    [
      'an email SAN',
      () =>
        sign(
          replace(
            good,
            '2.5.29.17',
            new x509.SubjectAlternativeNameExtension([
              { type: 'url', value: ID },
              { type: 'email', value: 'a@b.c' },
            ]),
          ),
        ),
      /only URI, DNS and IP/,
    ],
    ['no AKI', () => sign(replace(good, '2.5.29.35')), /authorityKeyIdentifier/],
    ['no SKI', () => sign(replace(good, '2.5.29.14')), /subjectKeyIdentifier missing/],
    [
      'past the issuer',
      () => sign({ ...good, notAfter: new Date(issuerCert.notAfter.getTime() + 1000) }),
      /past the signer/,
    ],
    ['backdated 2 minutes', () => sign({ ...good, notBefore: new Date(NOW - 120_000) }), /notBefore/],
    ['negative-looking serial', () => sign({ ...good, serialNumber: `00${'ff'.repeat(15)}` }), /serial/],
    ['signed by another CA', () => sign(good, other.intermediate.signingKey), /signature does not verify/],
  ];
  for (const [name, make, expected] of cases) {
    const violations = await leafProfileViolations(await make(), expectations);
    t.match(violations.join('\n'), expected, name);
  }
  t.match(
    (await leafProfileViolations(await sign(good), { ...expectations, spiffeId: `${ID}x` })).join(),
    /exactly one URI SAN/,
    'another ID than asked',
  );
  t.match(
    (await leafProfileViolations(await sign(good), { ...expectations, keyType: 'ec-p384' })).join(),
    /keyUsage|subject key/,
    'another key type than asked',
  );
});

t.test('CA profile: the minted root and intermediate conform; a leaf does not', async (t) => {
  t.same(await caProfileViolations(minted.root.cert, { trustDomain: TD, issuer: minted.root.cert }), []);
  t.same(await caProfileViolations(issuerCert, { trustDomain: TD, issuer: minted.root.cert, pathLength: 0 }), []);
  t.match((await caProfileViolations(issuerCert, { trustDomain: TD, issuer: minted.root.cert })).join(), /pathLen/);
  t.match(
    (
      await caProfileViolations(issuerCert, { trustDomain: 'other.org', issuer: minted.root.cert, pathLength: 0 })
    ).join(),
    /URI SAN/,
  );
  t.match(
    (
      await caProfileViolations(await sign(await goodTemplate()), {
        trustDomain: TD,
        issuer: issuerCert,
        pathLength: 0,
      })
    ).join(),
    /CA:true/,
  );
});
