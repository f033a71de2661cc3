import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { silentLogger } from '../../common/logger.ts';
import { adminId, controlPlaneId } from '../../common/spiffe-id.ts';
import type { CrlRequest } from '../ca/certificate-authority.ts';
import { mintCa } from '../ca/mint-ca.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import { recordOf } from '../lifecycle/inventory.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { CertificateKind } from '../store/store.ts';
import { RevocationRegistry } from './revocation-registry.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const HOUR = 3_600_000;

/** Records what was published; can be told to fail. */
class RecordingPublisher implements EventPublisher {
  readonly events: SigilEvent[] = [];
  failWith: Error | undefined;
  async publish(event: SigilEvent): Promise<{ readonly sequence: number }> {
    if (this.failWith) throw this.failWith;
    this.events.push(event);
    return { sequence: this.events.length };
  }
  async close(): Promise<void> {}
}

async function harness(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-revocation-'));
  const clock = new FakeClock();
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  const { ca, root, intermediate } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: clock.now() - HOUR });
  const publisher = new RecordingPublisher();
  const signer = {
    failures: 0,
    signCrl(request: CrlRequest) {
      if (this.failures > 0) {
        this.failures--;
        return Promise.reject(new Error('HSM unavailable'));
      }
      return ca.signCrl(request);
    },
  };
  const make = () =>
    new RevocationRegistry({ trustDomain: TD }, { store, signer, clock, logger: silentLogger(), publisher });
  const registry = make();
  t.teardown(async () => {
    await registry.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const [cert, kind, spiffeId] of [
    [root.cert, 'root', `spiffe://${TD}`],
    [intermediate.cert, 'intermediate', `spiffe://${TD}`],
  ] as const) {
    await store.insertCertificate({
      ...recordOf(
        {
          der: new Uint8Array(cert.rawData),
          pem: '',
          serial: cert.serialNumber.toLowerCase(),
          notBefore: cert.notBefore.getTime(),
          notAfter: cert.notAfter.getTime(),
          keyType: 'ec-p256',
          publicKeySha256: cert.serialNumber.padStart(64, '0'),
        },
        spiffeId,
        kind,
        null,
        clock.now(),
      ),
    });
  }
  const issue = async (spiffeId: string, kind: CertificateKind = 'svid', ttlMs = HOUR) => {
    const leaf = await ca.issueLeaf({
      spiffeId,
      publicKey: (await generateKeyPair('ec-p256')).publicKey,
      ttlMs,
      now: clock.now(),
    });
    await store.insertCertificate(recordOf(leaf, spiffeId, kind, ca.intermediateSerial, clock.now()));
    return leaf.serial;
  };
  /** Everything a refusal must leave alone. */
  const state = async () => ({
    statuses: (await store.listCertificates()).map((r) => `${r.serial}:${r.status}`),
    revocations: await store.listRevocations(),
    identities: await store.listRevokedIdentities(),
    crlSequence: await store.currentSequence('crl'),
    events: publisher.events.length,
    crl: Buffer.from(registry.snapshot.crlDer).toString('hex'),
  });
  return { clock, store, ca, root, intermediate, publisher, signer, registry, make, issue, state };
}

function parseCrl(der: Uint8Array) {
  const crl = new x509.X509Crl(der);
  const ext = crl.getExtension(id_ce_cRLNumber);
  return {
    crl,
    number: ext ? AsnConvert.parse(ext.value, CRLNumber).value : undefined,
    serials: crl.entries.map((e) => e.serialNumber.toLowerCase()),
    reasonOf: (serial: string) => crl.entries.find((e) => e.serialNumber.toLowerCase() === serial)?.reason,
  };
}

t.test('start signs CRL number 1 (empty) and a restart reuses a fresh CRL', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const first = h.registry.snapshot;
  t.equal(first.crlNumber, 1);
  t.equal(parseCrl(first.crlDer).number, 1, 'the CRL carries its number');
  t.same(parseCrl(first.crlDer).serials, []);
  t.equal(first.thisUpdate, h.clock.now());
  t.equal(first.nextUpdate, h.clock.now() + 24 * HOUR, '24 h validity by default');
  t.ok(await parseCrl(first.crlDer).crl.verify({ publicKey: h.intermediate.cert }), 'signed by the intermediate');
  t.same(h.publisher.events, [
    { type: 'revocation.updated', crlNumber: 1, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] },
  ]);
  await h.registry.stop();

  h.clock.advance(HOUR);
  const again = h.make();
  await again.start();
  t.teardown(() => again.stop());
  t.equal(again.snapshot.crlNumber, 1, 'same number');
  t.same(again.snapshot.crlDer, first.crlDer, 'same CRL');
  t.equal(h.publisher.events.length, 1, 'nothing published');
});

t.test('revokeSerial: stored, inventory marked, CRL rebuilt with the reason, event published', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const serial = await h.issue(API);
  const other = await h.issue(API);
  h.clock.advance(1000);
  const result = await h.registry.revokeSerial({
    serial,
    reason: 'keyCompromise',
    effectiveAt: h.clock.now() - 600_000,
  });
  t.same(result, { revokedSerials: [serial], crlNumber: 2 });
  t.equal((await h.store.getCertificate(serial))?.status, 'revoked');
  t.equal((await h.store.getCertificate(other))?.status, 'active', 'the other certificate is untouched');
  t.match(await h.store.getRevocation(serial), {
    reason: 'keyCompromise',
    revokedAt: h.clock.now(),
    effectiveAt: h.clock.now() - 600_000,
  });
  const crl = parseCrl(h.registry.snapshot.crlDer);
  t.equal(crl.number, 2);
  t.same(crl.serials, [serial]);
  t.equal(crl.reasonOf(serial), x509.X509CrlReason.keyCompromise);
  t.equal(crl.crl.entries[0]?.invalidity?.getTime(), h.clock.now() - 600_000, 'effective time is the invalidity date');
  t.same(h.registry.snapshot.revokedSerials, [serial]);
  t.same(h.publisher.events.at(-1), {
    type: 'revocation.updated',
    crlNumber: 2,
    revokedSerials: [serial],
    revokedSpiffeIds: [],
    unrevokedSpiffeIds: [],
  });
});

t.test('revoking twice changes nothing and returns the same result, whatever the spelling', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const serial = await h.issue(API);
  const first = await h.registry.revokeSerial({ serial, reason: 'superseded' });
  const before = await h.state();
  const spelled = serial.toUpperCase().match(/../g)!.join(':');
  for (const s of [serial, spelled, ` ${serial} `]) {
    t.same(
      await h.registry.revokeSerial({ serial: s, reason: 'keyCompromise' }),
      first,
      `again as ${JSON.stringify(s)}`,
    );
  }
  t.same(await h.state(), before, 'store, CRL, sequence and events unchanged');
  t.equal((await h.store.getRevocation(serial))?.reason, 'superseded', 'the first reason stays');
});

t.test('bad input is refused and changes nothing', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const svid = await h.issue(API);
  const cp = await h.issue(controlPlaneId(TD), 'control-plane');
  const admin = await h.issue(adminId(TD, 'default'), 'admin');
  const rootSerial = h.root.cert.serialNumber.toLowerCase();
  const intermediateSerial = h.intermediate.cert.serialNumber.toLowerCase();
  const cases: { name: string; run: () => Promise<unknown>; code: string; message: RegExp }[] = [
    {
      name: 'unknown serial',
      run: () => h.registry.revokeSerial({ serial: 'abcdef' }),
      code: ErrorCode.NOT_FOUND,
      message: /no certificate with serial abcdef in the inventory: see sigil certs list/,
    },
    {
      name: 'malformed serial',
      run: () => h.registry.revokeSerial({ serial: 'xyz' }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /malformed serial "xyz"/,
    },
    {
      name: 'empty serial',
      run: () => h.registry.revokeSerial({ serial: '' }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /malformed serial/,
    },
    {
      name: 'serial too long',
      run: () => h.registry.revokeSerial({ serial: 'a'.repeat(65) }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /malformed serial/,
    },
    {
      name: 'unknown reason',
      run: () => h.registry.revokeSerial({ serial: svid, reason: 'stolen' }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /unknown revocation reason "stolen": use one of unspecified, keyCompromise/,
    },
    {
      name: 'future effective time',
      run: () => h.registry.revokeSerial({ serial: svid, effectiveAt: h.clock.now() + HOUR }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /is in the future/,
    },
    {
      name: 'root CA, even with force',
      run: () => h.registry.revokeSerial({ serial: rootSerial, force: true }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /is a CA certificate/,
    },
    {
      name: 'intermediate CA, even with force',
      run: () => h.registry.revokeSerial({ serial: intermediateSerial, force: true }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /is a CA certificate/,
    },
    {
      name: 'control plane SVID without force',
      run: () => h.registry.revokeSerial({ serial: cp }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /control plane's own identity.*--force/,
    },
    {
      name: 'admin SVID without force',
      run: () => h.registry.revokeSerial({ serial: admin }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /admin identity.*--force/,
    },
    {
      name: 'control plane identity without force',
      run: () => h.registry.revokeIdentity({ spiffeId: controlPlaneId(TD) }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /control plane's own identity/,
    },
    {
      name: 'admin identity without force',
      run: () => h.registry.revokeIdentity({ spiffeId: adminId(TD, 'ops') }),
      code: ErrorCode.REVOKE_PROTECTED,
      message: /admin identity/,
    },
    {
      name: 'identity of another trust domain',
      run: () => h.registry.revokeIdentity({ spiffeId: 'spiffe://other.org/ns/prod/sa/api' }),
      code: ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
      message: /other\.org/,
    },
    {
      name: 'malformed identity',
      run: () => h.registry.revokeIdentity({ spiffeId: 'spiffe://example.org/a/../b' }),
      code: ErrorCode.SPIFFE_ID_INVALID,
      message: /"\." and "\.\." path segments/,
    },
    {
      name: 'trust domain ID as identity',
      run: () => h.registry.revokeIdentity({ spiffeId: `spiffe://${TD}` }),
      code: ErrorCode.SPIFFE_ID_INVALID,
      message: /needs a path/,
    },
    {
      name: 'identity with unknown reason',
      run: () => h.registry.revokeIdentity({ spiffeId: API, reason: 'KeyCompromise' }),
      code: ErrorCode.INVALID_ARGUMENT,
      message: /unknown revocation reason/,
    },
    {
      name: 'unrevoke malformed identity',
      run: () => h.registry.unrevokeIdentity('http://example.org/x'),
      code: ErrorCode.SPIFFE_ID_INVALID,
      message: /must start with "spiffe:\/\/"/,
    },
  ];
  for (const c of cases) {
    const before = await h.state();
    await t.rejects(c.run(), { code: c.code, message: c.message }, c.name);
    t.same(await h.state(), before, `${c.name}: nothing changed`);
  }
});

t.test('--force revokes the control plane and admin identities', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const cp = await h.issue(controlPlaneId(TD), 'control-plane');
  t.same((await h.registry.revokeSerial({ serial: cp, force: true })).revokedSerials, [cp]);
  const admin = await h.issue(adminId(TD, 'ops'), 'admin');
  t.same(await h.registry.revokeIdentity({ spiffeId: adminId(TD, 'ops'), force: true }), {
    revokedSerials: [admin],
    crlNumber: 3,
  });
});

t.test(
  'revokeIdentity: every live certificate, the identity remembered, idempotent; unrevoke lifts only the ban',
  async (t) => {
    const h = await harness(t);
    await h.registry.start();
    const expired = await h.issue(API, 'svid', 1000);
    h.clock.advance(2000);
    const a = await h.issue(API);
    const b = await h.issue(API);
    const web = await h.issue(WEB);
    const result = await h.registry.revokeIdentity({ spiffeId: API, reason: 'cessationOfOperation' });
    t.same(result.revokedSerials.toSorted(), [a, b].sort(), 'the live certificates');
    t.equal(result.crlNumber, 2);
    t.equal((await h.store.getCertificate(expired))?.status, 'active', 'an expired certificate is left alone');
    t.equal((await h.store.getCertificate(web))?.status, 'active', 'other identities are untouched');
    t.match(await h.store.getRevokedIdentity(API), { reason: 'cessationOfOperation' });
    t.same(h.registry.snapshot.revokedSpiffeIds, [API]);
    t.same(parseCrl(h.registry.snapshot.crlDer).serials.sort(), [a, b].sort());
    t.match(h.publisher.events.at(-1), {
      type: 'revocation.updated',
      crlNumber: 2,
      revokedSpiffeIds: [API],
      unrevokedSpiffeIds: [],
    });

    const before = await h.state();
    t.same(await h.registry.revokeIdentity({ spiffeId: API, reason: 'keyCompromise' }), result, 'twice: same result');
    t.same(await h.state(), before, 'twice: nothing changed');

    t.same(await h.registry.unrevokeIdentity(API), { crlNumber: 3 });
    t.same(h.publisher.events.at(-1), {
      type: 'revocation.updated',
      crlNumber: 3,
      revokedSerials: [],
      revokedSpiffeIds: [],
      unrevokedSpiffeIds: [API],
    });
    t.same(h.registry.snapshot.revokedSpiffeIds, []);
    t.same(parseCrl(h.registry.snapshot.crlDer).serials.sort(), [a, b].sort(), 'its certificates stay revoked');
    t.same(await h.registry.unrevokeIdentity(API), { crlNumber: 3 }, 'unrevoking again changes nothing');
    t.equal(h.publisher.events.length, 3);
  },
);

t.test('an identity with no certificate yet can be revoked (e.g. a leaked join token)', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  t.same(await h.registry.revokeIdentity({ spiffeId: WEB }), { revokedSerials: [], crlNumber: 2 });
  t.ok(await h.store.getRevokedIdentity(WEB));
});

t.test(
  'the CRL number grows by one per change, concurrent requests included, and events follow its order',
  async (t) => {
    const h = await harness(t);
    await h.registry.start();
    const serials = await Promise.all(Array.from({ length: 6 }, () => h.issue(API)));
    const results = await Promise.all(serials.map((serial) => h.registry.revokeSerial({ serial })));
    t.same(
      results.map((r) => r.crlNumber).sort((x, y) => x - y),
      [2, 3, 4, 5, 6, 7],
    );
    t.same(
      h.publisher.events.map((e) => e.type === 'revocation.updated' && e.crlNumber),
      [1, 2, 3, 4, 5, 6, 7],
    );
    t.equal(parseCrl(h.registry.snapshot.crlDer).number, 7);
    t.equal(parseCrl(h.registry.snapshot.crlDer).serials.length, 6);
  },
);

t.test('the CRL is re-signed at 3/4 of its validity; expired entries leave it after the margin', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const shortLived = await h.issue(API, 'svid', HOUR);
  const longLived = await h.issue(WEB, 'svid', 30 * HOUR);
  await h.registry.revokeSerial({ serial: shortLived });
  await h.registry.revokeSerial({ serial: longLived });
  const signedAt = h.clock.now();
  await h.clock.waitForTimers(1);
  h.clock.advance(18 * HOUR - 1);
  await h.registry.settled();
  t.equal(h.registry.snapshot.crlNumber, 3, 'not yet re-signed one millisecond before');
  h.clock.advance(1);
  await h.registry.settled();
  const resigned = h.registry.snapshot;
  t.equal(resigned.crlNumber, 4, 're-signing takes a new number');
  t.equal(resigned.thisUpdate, signedAt + 18 * HOUR);
  t.same(parseCrl(resigned.crlDer).serials, [longLived], 'the certificate expired 17 h ago is gone');
  t.same(resigned.revokedSerials, [longLived]);
  t.same(
    h.publisher.events.at(-1),
    { type: 'revocation.updated', crlNumber: 4, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] },
    'an empty change keeps receivers gap-free',
  );
});

t.test('an expired certificate stays listed within the margin', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const serial = await h.issue(API, 'svid', 18 * HOUR - 30 * 60_000);
  await h.registry.revokeSerial({ serial });
  h.clock.advance(18 * HOUR);
  await h.registry.settled();
  t.equal(h.registry.snapshot.crlNumber, 3);
  t.same(parseCrl(h.registry.snapshot.crlDer).serials, [serial], 'expired 30 min ago: still listed');
  h.clock.advance(18 * HOUR);
  await h.registry.settled();
  t.same(parseCrl(h.registry.snapshot.crlDer).serials, [], 'gone at the next re-signing');
});

t.test('a failed re-signing is retried; the old CRL stays in force meanwhile', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const before = h.registry.snapshot;
  h.signer.failures = 1;
  h.clock.advance(18 * HOUR);
  await h.registry.settled();
  t.same(h.registry.snapshot, before, 'still the old CRL');
  await h.clock.waitForTimers(1);
  h.clock.advance(60_000);
  await h.registry.settled();
  t.ok(h.registry.snapshot.crlNumber > before.crlNumber, 're-signed on retry');
  t.equal(parseCrl(h.registry.snapshot.crlDer).number, h.registry.snapshot.crlNumber);
});

t.test('a failing event channel does not fail the revocation', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const serial = await h.issue(API);
  h.publisher.failWith = new Error('nats down');
  t.same(await h.registry.revokeSerial({ serial }), { revokedSerials: [serial], crlNumber: 2 });
  t.same(h.registry.snapshot.revokedSerials, [serial]);
});

t.test('a revocation whose CRL cannot be signed changes nothing, and can be repeated', async (t) => {
  const h = await harness(t);
  await h.registry.start();
  const serial = await h.issue(API);
  const before = await h.state();
  h.signer.failures = 1;
  await t.rejects(h.registry.revokeSerial({ serial, reason: 'keyCompromise' }), /HSM unavailable/);
  const after = await h.state();
  t.same({ ...after, crlSequence: 0 }, { ...before, crlSequence: 0 }, 'no revocation, status, CRL or event');
  t.equal((await h.store.getCertificate(serial))?.status, 'active', 'certs show does not say revoked');
  const result = await h.registry.revokeSerial({ serial, reason: 'keyCompromise' });
  t.same(parseCrl(h.registry.snapshot.crlDer).serials, [serial], 'listed once the retry succeeded');
  t.ok(result.crlNumber > before.crlSequence, 'a skipped CRL number is allowed, never a reused one');

  h.signer.failures = 1;
  await t.rejects(h.registry.revokeIdentity({ spiffeId: WEB }), /HSM unavailable/);
  t.equal(await h.store.getRevokedIdentity(WEB), undefined, 'identity revocation rolled back with its CRL');
});
