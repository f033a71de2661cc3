import 'reflect-metadata';
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeClock } from '../../common/clock.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { silentLogger } from '../../common/logger.ts';
import { mintCa } from '../ca/mint-ca.ts';
import { recordOf } from '../lifecycle/inventory.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { RevocationRecord } from '../store/store.ts';
import { RevocationRegistry } from './revocation-registry.ts';

const TD = 'example.org';
const HOUR = 3_600_000;
const REVOKED = 100_000;
const REASONS = ['keyCompromise', 'superseded', 'cessationOfOperation', 'unspecified'];

t.test('revocation keeps working at 100,000 revoked serials; openssl verifies the CRL', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-revocation-scale-'));
  const clock = new FakeClock();
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  const { ca, intermediate } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: clock.now() - HOUR });
  const registry = new RevocationRegistry({ trustDomain: TD }, { store, signer: ca, clock, logger: silentLogger() });
  t.teardown(async () => {
    await registry.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  // Rows made directly (signing 100,000 leaves would take minutes): the CRL lists revocations, not certificates.
  const now = clock.now();
  const bulk: RevocationRecord[] = Array.from({ length: REVOKED }, (_, i) => ({
    serial: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '7'),
    spiffeId: `spiffe://${TD}/bulk/${i}`,
    reason: REASONS[i % REASONS.length]!,
    revokedAt: now - 1000,
    effectiveAt: i % 2 === 0 ? now - 60_000 : now - 1000,
    notAfter: now + HOUR,
  }));
  await store.revokeCertificates(bulk);
  await registry.start();
  t.equal(registry.snapshot.revokedSerials.length, REVOKED, 'the start CRL lists them all');

  const issue = async (spiffeId: string) => {
    const leaf = await ca.issueLeaf({
      spiffeId,
      publicKey: (await generateKeyPair('ec-p256')).publicKey,
      now: clock.now(),
    });
    await store.insertCertificate(recordOf(leaf, spiffeId, 'svid', ca.intermediateSerial, clock.now()));
    return leaf.serial;
  };
  const one = await issue(`spiffe://${TD}/ns/prod/sa/api`);
  const two = await issue(`spiffe://${TD}/ns/prod/sa/web`);
  const first = await registry.revokeSerial({ serial: one, reason: 'keyCompromise' });
  const second = await registry.revokeSerial({ serial: two, reason: 'superseded' });
  t.equal(second.crlNumber, first.crlNumber + 1, 'each revocation past 100,000 entries gets its CRL');
  t.equal((await store.getCertificate(two))?.status, 'revoked');
  const snapshot = registry.snapshot;
  t.equal(snapshot.revokedSerials.length, REVOKED + 2);
  t.ok(snapshot.revokedSerials.includes(two));

  const crlFile = join(dir, 'crl.der');
  const caFile = join(dir, 'intermediate.pem');
  await writeFile(crlFile, snapshot.crlDer);
  await writeFile(caFile, intermediate.cert.toString('pem'));
  const verify = await promisify(execFile)(
    'openssl',
    ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caFile, '-noout', '-crlnumber'],
    { maxBuffer: 1 << 20 },
  );
  t.match(verify.stderr, /verify OK/, 'openssl crl checks the signature');
  t.match(
    verify.stdout,
    new RegExp(`crlNumber=(0x)?0*${second.crlNumber.toString(16)}\\b`, 'i'),
    'with its CRL number',
  );
  const text = await promisify(execFile)('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text'], {
    maxBuffer: 256 << 20,
  });
  t.equal(text.stdout.match(/Serial Number:/g)?.length, REVOKED + 2, 'openssl reads every entry');
  t.match(
    text.stdout,
    new RegExp(
      `Serial Number: 0*${two.toUpperCase()}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Superseded`,
    ),
  );

  // A restart reuses the stored CRL (no re-signing while it is fresh) and revocation goes on.
  await registry.stop();
  const again = new RevocationRegistry({ trustDomain: TD }, { store, signer: ca, clock, logger: silentLogger() });
  await again.start();
  t.teardown(() => again.stop());
  t.equal(again.snapshot.crlNumber, second.crlNumber);
  const three = await issue(`spiffe://${TD}/ns/prod/sa/db`);
  t.equal((await again.revokeSerial({ serial: three })).crlNumber, second.crlNumber + 1);
});
