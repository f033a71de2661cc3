import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t, { type Test } from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { createLogger } from '../../common/logger.ts';
import { EKU_OIDS, EXT_OIDS, parseX509Facts } from '../../common/x509-facts.ts';
import { mintCa } from '../ca/mint-ca.ts';
import { seededRandomBytes } from '../ca/seeded-random-bytes.ts';
import { DAY_MS } from '../ca/templates.ts';
import { RevocationRegistry } from '../revocation/revocation-registry.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { SigningCertificateIssuer } from './signing-certificates.ts';
import { makeSigningCsr } from './signing-csr.ts';

// Issue 15, item 1: code-signing (and TSA) certificates from the internal CA, from a CSR, in the inventory and
// revocable with the existing revocation, their CRL entries kept past expiry.

const T0 = Date.UTC(2030, 5, 1);
const logger = createLogger({ component: 'test', level: 'silent' });

async function setup(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-signing-certs-'));
  const clock = new FakeClock(T0);
  const store = new SqliteStore({ path: join(dir, 'store.db'), clock });
  await store.open();
  const { ca } = await mintCa({
    trustDomain: 'example.org',
    keyType: 'ec-p256',
    now: T0 - DAY_MS,
    randomBytes: seededRandomBytes('sc'),
  });
  const issuer = new SigningCertificateIssuer({ ca, store, clock, logger });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { clock, store, ca, issuer };
}

async function csr(subject: string, keyType: 'ec-p256' | 'rsa-2048' = 'ec-p256') {
  const keys = await generateKeyPair(keyType);
  return { keys, der: await makeSigningCsr({ subject, keyType, keys }) };
}

t.test(
  'a code-signing certificate: codeSigning only, digitalSignature, the subject asked for, 90 days, recorded',
  async (t) => {
    const { issuer, store } = await setup(t);
    const leaf = await issuer.issue({
      csr: (await csr('CN=release-pipeline,O=Acme,OU=payments')).der,
      profile: 'code-signing',
    });
    const f = parseX509Facts(leaf.der);
    t.same(f.extKeyUsage, [EKU_OIDS.codeSigning], 'EKU codeSigning only');
    t.same(f.keyUsage, ['digitalSignature'], 'digitalSignature only');
    t.ok(f.keyUsageCritical && f.basicConstraintsCritical && !f.isCa, 'CA:false, critical key usage');
    t.equal(f.subject, 'CN=release-pipeline, O=Acme, OU=payments');
    t.same(f.uriSans, [], 'no SPIFFE ID');
    t.notOk(
      f.extensions.some((e) => e.oid === EXT_OIDS.subjectAltName),
      'no SAN at all',
    );
    t.equal(f.notAfter - T0, 90 * DAY_MS, 'default lifetime 90 days');
    const record = await store.getCertificate(leaf.serial);
    t.match(record, { kind: 'code-signing', spiffeId: '', status: 'active', keyType: 'ec-p256' }, 'in the inventory');
  },
);

t.test('a TSA certificate: timeStamping only and critical', async (t) => {
  const { issuer, store } = await setup(t);
  const leaf = await issuer.issue({
    csr: (await csr('CN=Acme TSA', 'rsa-2048')).der,
    profile: 'timestamping',
    ttlMs: 200 * DAY_MS,
  });
  const f = parseX509Facts(leaf.der);
  t.same(f.extKeyUsage, [EKU_OIDS.timeStamping]);
  t.ok(f.extensions.find((e) => e.oid === EXT_OIDS.extKeyUsage)?.critical, 'critical');
  t.same(f.keyUsage, ['digitalSignature'], 'an RSA signer gets no keyEncipherment');
  t.equal(f.notAfter - T0, 200 * DAY_MS, 'the asked lifetime');
  t.equal((await store.getCertificate(leaf.serial))?.kind, 'timestamping');
});

t.test('refusals say what to fix and record nothing', async (t) => {
  const { issuer, store } = await setup(t);
  const reused = await csr('CN=ci');
  await issuer.issue({ csr: reused.der, profile: 'code-signing' });
  const before = (await store.listCertificates()).length;
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const weak = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=weak',
    keys: {
      publicKey: rsa1024.publicKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']),
      privateKey: rsa1024.privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign']),
    },
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
  });
  const subjectless = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=Acme',
    keys: (await csr('CN=x')).keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const cases: Array<[string, () => Promise<unknown>, string, RegExp]> = [
    [
      'a lifetime over a year',
      async () => issuer.issue({ csr: (await csr('CN=a')).der, profile: 'code-signing', ttlMs: 366 * DAY_MS }),
      ErrorCode.INVALID_ARGUMENT,
      /at most 365 days/,
    ],
    [
      'a key certified before',
      async () => issuer.issue({ csr: reused.der, profile: 'code-signing' }),
      ErrorCode.CSR_KEY_REUSED,
      /new key/,
    ],
    [
      'an RSA-1024 key',
      async () => issuer.issue({ csr: new Uint8Array(weak.rawData), profile: 'code-signing' }),
      ErrorCode.KEY_TOO_WEAK,
      /2048/,
    ],
    [
      'a subject without CN',
      async () => issuer.issue({ csr: new Uint8Array(subjectless.rawData), profile: 'code-signing' }),
      ErrorCode.CSR_SUBJECT,
      /exactly one CN/,
    ],
    [
      'a CSR that is not one',
      async () => issuer.issue({ csr: new Uint8Array([1, 2, 3]), profile: 'code-signing' }),
      ErrorCode.CSR_MALFORMED,
      /PKCS#10/,
    ],
  ];
  for (const [name, run, code, message] of cases) await t.rejects(run(), { code, message }, name);
  t.equal((await store.listCertificates()).length, before, 'nothing recorded by a refusal');
});

t.test('subjects: one CN naming the signer, only name attributes', async (t) => {
  const ok = ['CN=release', 'CN=nightly build,O=Acme,OU=CI,C=DE,ST=Berlin,L=Berlin'];
  const refused = ['CN=a+CN=b', 'CN=x,E=ops@example.org', 'CN=x,DC=example', `CN=${'x'.repeat(65)}`, 'O=no-cn', 'CN= '];
  for (const subject of ok) await t.resolves(csr(subject), subject);
  for (const subject of refused) await t.rejects(csr(subject), { code: ErrorCode.CSR_SUBJECT }, subject);
});

t.test('a revoked code-signing certificate stays on the CRL after it expired; an SVID leaves it', async (t) => {
  const { issuer, store, ca, clock } = await setup(t);
  const leaf = await issuer.issue({ csr: (await csr('CN=release')).der, profile: 'code-signing', ttlMs: 2 * DAY_MS });
  const keys = await generateKeyPair('ec-p256');
  const svid = await ca.issueLeaf({
    spiffeId: 'spiffe://example.org/w',
    publicKey: keys.publicKey,
    ttlMs: 2 * DAY_MS,
    now: T0,
  });
  await store.insertCertificate({
    serial: svid.serial,
    spiffeId: 'spiffe://example.org/w',
    kind: 'svid',
    keyType: svid.keyType,
    notBefore: svid.notBefore,
    notAfter: svid.notAfter,
    issuerSerial: svid.issuerSerial,
    status: 'active',
    issuedAt: T0,
    publicKeySha256: svid.publicKeySha256,
    der: svid.der,
  });
  const registry = new RevocationRegistry({ trustDomain: 'example.org' }, { store, signer: ca, clock, logger });
  await registry.start();
  t.teardown(() => registry.stop());
  clock.advance(2 * 3_600_000);
  await registry.revokeSerial({ serial: leaf.serial, reason: 'keyCompromise', effectiveAt: T0 + 3_600_000 });
  await registry.revokeSerial({ serial: svid.serial, reason: 'keyCompromise' });
  const listed = () => new x509.X509Crl(registry.snapshot.crlDer).entries.map((e) => e.serialNumber.toLowerCase());
  t.same(listed().sort(), [leaf.serial, svid.serial].sort(), 'both listed while valid');
  const entry = new x509.X509Crl(registry.snapshot.crlDer).entries.find(
    (e) => e.serialNumber.toLowerCase() === leaf.serial,
  );
  t.equal(entry?.reason, x509.X509CrlReason.keyCompromise, 'with its reason');
  t.equal(entry?.invalidity?.getTime(), T0 + 3_600_000, 'and its effective time as the invalidity date');
  clock.advance(10 * DAY_MS);
  await registry.settled();
  t.same(listed(), [leaf.serial], 'past expiry only the code-signing certificate remains');
});
