import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, type webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { exportSpki, generateKeyPair } from '../../common/key-pair.ts';
import { mintCa } from './mint-ca.ts';
import { seededRandomBytes } from './seeded-random-bytes.ts';
import { DAY_MS } from './templates.ts';

const run = promisify(execFile);
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const TD = 'example.org';

async function openssl(args: string[]): Promise<string> {
  const { stdout } = await run('openssl', args);
  return stdout;
}

async function workDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const pairs: Array<[KeyType, KeyType]> = [
  ['ec-p256', 'ec-p256'],
  ['ec-p384', 'ec-p256'],
  ['rsa-2048', 'rsa-2048'],
  ['ec-p256', 'ec-p384'],
];

t.test('issued SVIDs pass openssl verify and show every profile rule', async (t) => {
  const dir = await workDir(t);
  for (const [caType, leafType] of pairs) {
    const name = `CA ${caType}, leaf ${leafType}`;
    const { ca } = await mintCa({ trustDomain: TD, keyType: caType, now: NOW, randomBytes: seededRandomBytes(name) });
    const keys = await generateKeyPair(leafType);
    const issued = await ca.issueLeaf({
      spiffeId: `spiffe://${TD}/ns/prod/sa/api`,
      publicKey: keys.publicKey,
      ttlMs: 3_600_000,
      now: NOW,
    });
    const [root, intermediate, svid] = ['root.pem', 'intermediate.pem', 'svid.pem'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ];
    await writeFile(root, ca.bundlePem());
    await writeFile(intermediate, ca.chainPem());
    await writeFile(svid, issued.pem);
    const verified = await openssl([
      'verify',
      '-attime',
      String(NOW / 1000 + 60),
      '-CAfile',
      root,
      '-untrusted',
      intermediate,
      svid,
    ]);
    t.match(verified, /svid\.pem: OK/, `${name}: openssl verify`);

    const text = await openssl(['x509', '-in', svid, '-noout', '-text']);
    t.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/, `${name}: CA:FALSE critical`);
    const usages = leafType.startsWith('rsa') ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
    t.match(text, new RegExp(`X509v3 Key Usage: critical\\s+${usages}\\n`), `${name}: keyUsage critical`);
    t.match(
      text,
      /X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication/,
      `${name}: EKU both`,
    );
    const san = /X509v3 Subject Alternative Name:\s*\n\s+(.+)\n/.exec(text)?.[1];
    t.equal(san, `URI:spiffe://${TD}/ns/prod/sa/api`, `${name}: one URI SAN and nothing else`);
    t.match(text, /X509v3 Subject Key Identifier/);
    t.match(text, /X509v3 Authority Key Identifier/);

    const serial = (await openssl(['x509', '-in', svid, '-noout', '-serial']))
      .trim()
      .replace('serial=', '')
      .toLowerCase();
    t.equal(issued.serial, serial, `${name}: serial as openssl reads it`);
    t.match(issued.serial, /^[0-7][0-9a-f]{31}$/);
    t.equal(issued.keyType, leafType);
    t.equal(
      issued.publicKeySha256,
      createHash('sha256')
        .update(await exportSpki(keys.publicKey))
        .digest('hex'),
    );
    t.equal(issued.notBefore, NOW - 60_000);
    t.equal(issued.notAfter, NOW + 3_600_000);
    t.same(new Uint8Array(new x509.X509Certificate(issued.pem).rawData), issued.der, 'pem and der agree');
  }
});

t.test('DNS and IP SANs go only where asked, and verify with openssl', async (t) => {
  const dir = await workDir(t);
  const { ca } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  const keys = await generateKeyPair('ec-p256');
  const issued = await ca.issueLeaf({
    spiffeId: `spiffe://${TD}/sigil/control-plane`,
    publicKey: keys.publicKey,
    now: NOW,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  await writeFile(join(dir, 'cp.pem'), issued.pem);
  const text = await openssl(['x509', '-in', join(dir, 'cp.pem'), '-noout', '-ext', 'subjectAltName']);
  t.match(text, `URI:spiffe://${TD}/sigil/control-plane, DNS:localhost, IP Address:127.0.0.1`);
  t.equal(issued.notAfter - NOW, 3_600_000, 'default TTL of 1 h');
});

t.test('a leaf never outlives the intermediate', async (t) => {
  const { ca } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW, intermediateTtlMs: 2 * 3_600_000 });
  const keys = await generateKeyPair('ec-p256');
  const issued = await ca.issueLeaf({
    spiffeId: `spiffe://${TD}/a`,
    publicKey: keys.publicKey,
    ttlMs: DAY_MS,
    now: NOW,
  });
  t.equal(issued.notAfter, ca.intermediateNotAfter);
  t.equal(ca.intermediateNotAfter, NOW + 2 * 3_600_000);
  await t.rejects(ca.issueLeaf({ spiffeId: `spiffe://${TD}/a`, publicKey: keys.publicKey, now: NOW + 3 * 3_600_000 }), {
    code: ErrorCode.CA_EXPIRED,
  });
});

t.test('refuses IDs outside the trust domain and keys outside the policy', async (t) => {
  const { ca } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  const good = await generateKeyPair('ec-p256');
  const importSpki = (spki: Buffer, algorithm: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams) =>
    crypto.subtle.importKey('spki', Uint8Array.from(spki), algorithm, true, ['verify']);
  const rsa1024 = await importSpki(
    generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }),
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  );
  const p521 = await importSpki(
    generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'der', type: 'spki' }),
    { name: 'ECDSA', namedCurve: 'P-521' },
  );
  const cases: Array<[string, string, CryptoKey, string]> = [
    ['other trust domain', 'spiffe://other.org/a', good.publicKey, ErrorCode.SPIFFE_ID_TRUST_DOMAIN],
    ['trust-domain ID', `spiffe://${TD}`, good.publicKey, ErrorCode.SPIFFE_ID_INVALID],
    ['invalid ID', `spiffe://${TD}/a/../b`, good.publicKey, ErrorCode.SPIFFE_ID_INVALID],
    ['RSA-1024', `spiffe://${TD}/a`, rsa1024, ErrorCode.KEY_TOO_WEAK],
    ['P-521', `spiffe://${TD}/a`, p521, ErrorCode.KEY_UNSUPPORTED],
  ];
  for (const [name, spiffeId, publicKey, code] of cases) {
    await t.rejects(ca.issueLeaf({ spiffeId, publicKey, now: NOW }), { code }, name);
  }
});

t.test('chain and bundle accessors', async (t) => {
  const { ca, root, intermediate } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  t.equal(ca.trustDomain, TD);
  t.equal(ca.keyType, 'ec-p256');
  t.equal(ca.intermediateSerial, intermediate.issued.serial);
  t.same(ca.chainDer(), [intermediate.issued.der]);
  t.same(ca.rootsDer(), [root.issued.der]);
  t.equal(ca.chainPem(), intermediate.issued.pem);
  t.equal(ca.bundlePem(), root.issued.pem);
  t.equal((ca.bundlePem().match(/BEGIN CERTIFICATE/g) ?? []).length, 1, 'bundle holds the root only');
});

t.test('create() refuses an intermediate that does not chain, or a key that is not its own', async (t) => {
  const a = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  const b = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW });
  await t.rejects(
    CertificateAuthority.create({
      trustDomain: TD,
      intermediate: a.intermediate.cert,
      intermediateKey: b.intermediate.signingKey,
      roots: [a.root.cert],
    }),
    { code: ErrorCode.CA_INVALID },
    'foreign key',
  );
  await t.rejects(
    CertificateAuthority.create({
      trustDomain: TD,
      intermediate: a.intermediate.cert,
      intermediateKey: a.intermediate.signingKey,
      roots: [b.root.cert],
    }),
    { code: ErrorCode.CA_INVALID },
    'foreign root',
  );
  await t.rejects(
    CertificateAuthority.create({
      trustDomain: 'other.org',
      intermediate: a.intermediate.cert,
      intermediateKey: a.intermediate.signingKey,
      roots: [a.root.cert],
    }),
    { code: ErrorCode.CA_INVALID },
    'other trust domain',
  );
  await t.rejects(
    CertificateAuthority.create({
      trustDomain: TD,
      intermediate: a.intermediate.cert,
      intermediateKey: a.intermediate.signingKey,
      roots: [],
    }),
    { code: ErrorCode.CA_INVALID },
    'no root',
  );
  const both = await CertificateAuthority.create({
    trustDomain: TD,
    intermediate: a.intermediate.cert,
    intermediateKey: a.intermediate.signingKey,
    roots: [b.root.cert, a.root.cert],
  });
  t.equal(both.rootsDer().length, 2, 'a bundle with two roots (rotation) is fine');
});

t.test('serials are reproducible with seeded randomness', async (t) => {
  const { ca } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW, randomBytes: seededRandomBytes('s') });
  const keys = await generateKeyPair('ec-p256');
  const first = await ca.issueLeaf({ spiffeId: `spiffe://${TD}/a`, publicKey: keys.publicKey, now: NOW });
  const second = await ca.issueLeaf({ spiffeId: `spiffe://${TD}/a`, publicKey: keys.publicKey, now: NOW });
  t.not(first.serial, second.serial, 'the stream moves on');
  const again = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: NOW, randomBytes: seededRandomBytes('s') });
  const replay = await again.ca.issueLeaf({ spiffeId: `spiffe://${TD}/a`, publicKey: keys.publicKey, now: NOW });
  t.equal(replay.serial, first.serial, 'same seed, same serials');
});

t.test('signCrl: a v2 CRL that openssl verifies, with number, AKI, times, reasons and invalidity dates', async (t) => {
  const dir = await workDir(t);
  for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
    const { ca } = await mintCa({
      trustDomain: TD,
      keyType,
      now: NOW,
      randomBytes: seededRandomBytes(`crl ${keyType}`),
    });
    const leaves = await Promise.all(
      [0, 1, 2].map(async () =>
        ca.issueLeaf({
          spiffeId: `spiffe://${TD}/ns/prod/sa/api`,
          publicKey: (await generateKeyPair('ec-p256')).publicKey,
          now: NOW,
        }),
      ),
    );
    const [a, b, kept] = leaves as [(typeof leaves)[0], (typeof leaves)[0], (typeof leaves)[0]];
    const der = await ca.signCrl({
      crlNumber: 42,
      thisUpdate: NOW,
      nextUpdate: NOW + DAY_MS,
      entries: [
        { serial: a.serial, revokedAt: NOW - 1000, reasonCode: 1, invalidSince: NOW - 3_600_000 },
        { serial: b.serial, revokedAt: NOW - 1000, reasonCode: 0 },
      ],
    });
    const [crl, chain, svidA, svidKept] = ['crl.der', 'chain.pem', 'a.pem', 'kept.pem'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
      string,
    ];
    await writeFile(crl, der);
    await writeFile(chain, ca.chainPem() + ca.bundlePem());
    await writeFile(svidA, a.pem);
    await writeFile(svidKept, kept.pem);
    const { stderr, stdout: text } = await run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      crl,
      '-CAfile',
      chain,
      '-noout',
      '-text',
    ]);
    t.match(stderr, /verify OK/, `${keyType}: openssl verifies the signature`);
    t.match(text, /Version 2/, `${keyType}: v2`);
    t.match(text, /X509v3 CRL Number:\s*\n\s+42\n/, `${keyType}: CRL number`);
    t.match(text, /X509v3 Authority Key Identifier/, `${keyType}: AKI`);
    t.match(text, /Last Update: Jan {2}1 12:00:00 2026 GMT/);
    t.match(text, /Next Update: Jan {2}2 12:00:00 2026 GMT/);
    const entryOf = (serial: string) =>
      new RegExp(`Serial Number: ${serial.toUpperCase()}\\n([\\s\\S]*?)(?=Serial Number|Signature Algorithm)`).exec(
        text,
      )?.[1] ?? '';
    t.match(
      entryOf(a.serial),
      /X509v3 CRL Reason Code:\s*\n\s+Key Compromise/,
      `${keyType}: reason of the first entry`,
    );
    t.match(entryOf(a.serial), /Invalidity Date:\s*\n\s+Jan {2}1 11:00:00 2026 GMT/, `${keyType}: invalidity date`);
    t.notMatch(entryOf(b.serial), /Reason Code/, `${keyType}: unspecified is left out`);
    t.notMatch(text, new RegExp(kept.serial.toUpperCase()), `${keyType}: unrevoked certificate not listed`);

    const pemCrl = join(dir, 'crl.pem');
    await run('openssl', ['crl', '-inform', 'DER', '-in', crl, '-out', pemCrl]);
    const at = String(NOW / 1000 + 60);
    const refused = await run('openssl', [
      'verify',
      '-attime',
      at,
      '-crl_check',
      '-CRLfile',
      pemCrl,
      '-CAfile',
      join(dir, 'chain.pem'),
      svidA,
    ]).then(
      () => 'accepted',
      (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
    );
    t.match(refused, /certificate revoked/, `${keyType}: openssl verify -crl_check refuses the revoked SVID`);
    const ok = await openssl([
      'verify',
      '-attime',
      at,
      '-crl_check',
      '-CRLfile',
      pemCrl,
      '-CAfile',
      join(dir, 'chain.pem'),
      svidKept,
    ]);
    t.match(ok, /OK/, `${keyType}: and accepts the other`);
  }
});
