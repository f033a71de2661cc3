import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t, { type Test } from 'tap';
import type { webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { makeCsr } from '../../common/csr-builder.ts';
import { ErrorCode } from '../../common/errors.ts';
import { exportSpki, generateKeyPair, keyTypeOfSpki, spkiSha256 } from '../../common/key-pair.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { CertificateKind, CertificateRecord } from '../store/store.ts';
import { checkCsr } from './csr.ts';
import { IdentityIssuer, type CallerCertificate, type LeafSigner, type SignedLeaf } from './identity-issuer.ts';
import { hashJoinToken, JoinTokens } from './join-tokens.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const SVID_TTL_MS = 3_600_000;
const TOKEN_TTL_MS = 15 * 60_000;
const CA_SERIAL = 'ca00000000000000000000000000ca01';
const INTERMEDIATE_DER = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x07]);

type Keys = webcrypto.CryptoKeyPair;

/** The CA port, faked: counts calls, hands out sequential serials and a recognisable DER, can be told to fail. */
class CountingLeafSigner implements LeafSigner {
  readonly trustDomain = TD;
  readonly calls: { spiffeId: string; ttlMs: number; now: number }[] = [];
  failWith: Error | undefined;

  async issueLeaf(request: {
    spiffeId: string;
    publicKey: CryptoKey;
    ttlMs: number;
    now: number;
  }): Promise<SignedLeaf> {
    this.calls.push({ spiffeId: request.spiffeId, ttlMs: request.ttlMs, now: request.now });
    if (this.failWith) throw this.failWith;
    const spki = await exportSpki(request.publicKey);
    const n = this.calls.length;
    return {
      der: Uint8Array.from([0x30, 0x01, n]),
      serial: n.toString(16).padStart(32, '0'),
      notBefore: request.now - 60_000,
      notAfter: request.now + request.ttlMs,
      keyType: keyTypeOfSpki(spki),
      publicKeySha256: spkiSha256(spki),
      issuerSerial: CA_SERIAL,
      chainDer: [INTERMEDIATE_DER],
    };
  }
}

async function harness(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-issuer-'));
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock();
  const signer = new CountingLeafSigner();
  const issuedKinds: CertificateKind[] = [];
  const issuer = new IdentityIssuer({
    store,
    signer,
    clock,
    svidTtlMs: SVID_TTL_MS,
    checkCsr: (der) => checkCsr(der, { trustDomain: TD }),
    onIssued: (_leaf, kind) => issuedKinds.push(kind),
  });
  const tokens = new JoinTokens({ store, clock, trustDomain: TD, defaultTtlMs: TOKEN_TTL_MS });
  const token = async (spiffeId = API, uses = 1) => (await tokens.create({ spiffeId, uses })).token;
  /** Everything a refusal must leave alone: the inventory, the token's remaining uses, the CA's signature count. */
  const snapshot = async (joinToken?: string) => ({
    certificates: (await store.listCertificates()).map((r) => ({ ...r, der: Buffer.from(r.der).toString('hex') })),
    token: joinToken === undefined ? undefined : await store.getJoinToken(hashJoinToken(joinToken)),
    signatures: signer.calls.length,
    issued: issuedKinds.length,
  });
  return { store, clock, signer, issuer, tokens, token, snapshot, issuedKinds };
}

type Harness = Awaited<ReturnType<typeof harness>>;

const csrFor = async (spiffeId: string, keys?: Keys) =>
  makeCsr({ spiffeId, keys: keys ?? (await generateKeyPair('ec-p256')) });

/** Attests once and returns what a renewing caller would present (its certificate's serial, ID and key hash). */
async function attested(
  h: Harness,
  spiffeId = API,
): Promise<{ caller: CallerCertificate; keys: Keys; record: CertificateRecord }> {
  const keys = await generateKeyPair('ec-p256');
  const issued = await h.issuer.attest(await h.token(spiffeId), await csrFor(spiffeId, keys));
  const record = await h.store.getCertificate(issued.leaf.serial);
  if (!record) throw new Error('attested certificate missing from the inventory');
  return {
    caller: { spiffeId: parseSpiffeId(spiffeId), serial: record.serial, publicKeySha256: record.publicKeySha256 },
    keys,
    record,
  };
}

t.test('attest', async (t) => {
  t.test('issues an SVID, consumes the token and records the certificate as an svid', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API);
    const keys = await generateKeyPair('ec-p256');
    const issued = await h.issuer.attest(joinToken, await csrFor(API, keys));

    t.same(
      h.signer.calls,
      [{ spiffeId: API, ttlMs: SVID_TTL_MS, now: h.clock.now() }],
      'one signature, with the configured TTL and the clock time',
    );
    t.same(issued.chain, [issued.leaf.der, INTERMEDIATE_DER], 'chain is the leaf, then the intermediates');
    t.equal((await h.store.getJoinToken(hashJoinToken(joinToken)))?.usesRemaining, 0, 'token used up');
    const rows = await h.store.listCertificates();
    t.equal(rows.length, 1);
    t.match(rows[0], {
      serial: issued.leaf.serial,
      spiffeId: API,
      kind: 'svid',
      keyType: 'ec-p256',
      issuerSerial: CA_SERIAL,
      status: 'active',
      issuedAt: h.clock.now(),
      notAfter: h.clock.now() + SVID_TTL_MS,
      publicKeySha256: spkiSha256(await exportSpki(keys.publicKey)),
    });
    t.same(rows[0]?.der, issued.leaf.der, 'the DER is stored');
    t.same(h.issuedKinds, ['svid'], 'onIssued told once');
  });

  t.test('a token with N uses issues N SVIDs, then is refused', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API, 3);
    for (let i = 0; i < 3; i++) await h.issuer.attest(joinToken, await csrFor(API));
    await t.rejects(h.issuer.attest(joinToken, await csrFor(API)), { code: ErrorCode.TOKEN_USED });
    t.equal((await h.store.listCertificates({ kind: 'svid' })).length, 3);
  });

  t.test('a token is usable until the instant it expires', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API, 2);
    h.clock.advance(TOKEN_TTL_MS - 1);
    await h.issuer.attest(joinToken, await csrFor(API));
    h.clock.advance(1);
    await t.rejects(h.issuer.attest(joinToken, await csrFor(API)), { code: ErrorCode.TOKEN_EXPIRED });
  });

  t.test('two concurrent attestations with a single-use token: exactly one wins', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API);
    const results = await Promise.allSettled([
      h.issuer.attest(joinToken, await csrFor(API)),
      h.issuer.attest(joinToken, await csrFor(API)),
    ]);
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one issued');
    const refused = results.find((r) => r.status === 'rejected');
    t.match(refused?.reason, { code: ErrorCode.TOKEN_USED });
    t.equal((await h.store.listCertificates()).length, 1, 'one row');
  });

  // The key-reuse check and the inventory write are apart in time: the issuer reserves the key in between, and the
  // store's unique index on the key hash backs that up across processes.
  t.test('two concurrent attestations with the same key: only one is certified', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API, 2);
    const csr = await csrFor(API);
    const results = await Promise.allSettled([h.issuer.attest(joinToken, csr), h.issuer.attest(joinToken, csr)]);
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one issued');
    t.match(results.find((r) => r.status === 'rejected')?.reason, { code: ErrorCode.CSR_KEY_REUSED });
    t.equal((await h.store.listCertificates()).length, 1, 'one row for the key');
  });

  t.test('refusals name the problem and change nothing', async (t) => {
    interface Case {
      readonly name: string;
      /** Returns the token to send (whose record is compared before/after) and the CSR. */
      readonly setup: (h: Harness) => Promise<{ joinToken: string; csr: Uint8Array }>;
      readonly code: string;
      readonly message: RegExp;
    }
    const cases: Case[] = [
      {
        name: 'empty token',
        setup: async () => ({ joinToken: '', csr: await csrFor(API) }),
        code: ErrorCode.TOKEN_INVALID,
        message: /no join token given/,
      },
      {
        name: 'unknown token',
        setup: async () => ({ joinToken: 'sigil-jt-not-issued-here', csr: await csrFor(API) }),
        code: ErrorCode.TOKEN_INVALID,
        message: /not known to this control plane/,
      },
      {
        name: 'expired token',
        setup: async (h) => {
          const joinToken = await h.token(API);
          h.clock.advance(TOKEN_TTL_MS);
          return { joinToken, csr: await csrFor(API) };
        },
        code: ErrorCode.TOKEN_EXPIRED,
        message: /has expired/,
      },
      {
        name: 'reused token',
        setup: async (h) => {
          const joinToken = await h.token(API);
          await h.issuer.attest(joinToken, await csrFor(API));
          return { joinToken, csr: await csrFor(API) };
        },
        code: ErrorCode.TOKEN_USED,
        message: /already been used/,
      },
      {
        name: 'token for another ID',
        setup: async (h) => ({ joinToken: await h.token(WEB), csr: await csrFor(API) }),
        code: ErrorCode.TOKEN_SPIFFE_ID_MISMATCH,
        message:
          /bound to spiffe:\/\/example\.org\/ns\/prod\/sa\/web, but the CSR asks for spiffe:\/\/example\.org\/ns\/prod\/sa\/api/,
      },
      {
        name: 'key already certified',
        setup: async (h) => {
          const keys = await generateKeyPair('ec-p256');
          await h.issuer.attest(await h.token(API), await csrFor(API, keys));
          return { joinToken: await h.token(API), csr: await csrFor(API, keys) };
        },
        code: ErrorCode.CSR_KEY_REUSED,
        message: /already certified/,
      },
      {
        name: 'random bytes instead of a CSR',
        setup: async (h) => ({
          joinToken: await h.token(API),
          csr: globalThis.crypto.getRandomValues(new Uint8Array(300)),
        }),
        code: ErrorCode.CSR_MALFORMED,
        message: /not a DER PKCS#10 request/,
      },
      {
        name: 'CSR for another trust domain',
        setup: async (h) => {
          const keys = await generateKeyPair('ec-p256');
          const request = await x509.Pkcs10CertificateRequestGenerator.create(
            {
              keys,
              signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
              extensions: [
                new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://other.org/ns/prod/sa/api' }]),
              ],
            },
            globalThis.crypto,
          );
          return { joinToken: await h.token(API), csr: new Uint8Array(request.rawData) };
        },
        code: ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
        message: /trust domain "other\.org"/,
      },
      {
        name: 'revoked identity',
        setup: async (h) => {
          const joinToken = await h.token(API);
          await h.store.revokeIdentity({ spiffeId: API, reason: 'keyCompromise', revokedAt: h.clock.now() }, []);
          return { joinToken, csr: await csrFor(API) };
        },
        code: ErrorCode.REVOKED,
        message:
          /identity spiffe:\/\/example\.org\/ns\/prod\/sa\/api is revoked \(keyCompromise\).*sigil unrevoke --spiffe-id/,
      },
    ];
    for (const c of cases) {
      const h = await harness(t);
      const { joinToken, csr } = await c.setup(h);
      const before = await h.snapshot(joinToken);
      const err = await h.issuer.attest(joinToken, csr).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.match(err, { code: c.code, message: c.message }, c.name);
      t.same(await h.snapshot(joinToken), before, `${c.name}: inventory, token and signature count unchanged`);
      if (joinToken !== '')
        t.notMatch(String((err as Error | undefined)?.message), joinToken, `${c.name}: the token is not echoed`);
    }
  });

  t.test('a revoked identity attests again once unrevoked, with the same token', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API);
    await h.store.revokeIdentity({ spiffeId: API, reason: 'unspecified', revokedAt: h.clock.now() }, []);
    await t.rejects(h.issuer.attest(joinToken, await csrFor(API)), { code: ErrorCode.REVOKED });
    await h.issuer.attest(await h.token(WEB), await csrFor(WEB));
    await h.store.unrevokeIdentity(API);
    await h.issuer.attest(joinToken, await csrFor(API));
    t.same(
      (await h.store.listCertificates()).map((r) => r.spiffeId).sort(),
      [API, WEB],
      'other identities were never affected',
    );
  });

  t.test('a refused CSR leaves the token usable', async (t) => {
    const h = await harness(t);
    const joinToken = await h.token(API);
    await t.rejects(h.issuer.attest(joinToken, await csrFor(WEB)), { code: ErrorCode.TOKEN_SPIFFE_ID_MISMATCH });
    await t.rejects(h.issuer.attest(joinToken, Uint8Array.from([1, 2, 3])), { code: ErrorCode.CSR_MALFORMED });
    await h.issuer.attest(joinToken, await csrFor(API));
    t.equal((await h.store.listCertificates()).length, 1);
  });
});

t.test('renew', async (t) => {
  t.test('issues a new SVID for the same ID and a new key', async (t) => {
    const h = await harness(t);
    const { caller } = await attested(h);
    h.clock.advance(30 * 60_000);
    const renewed = await h.issuer.renew(caller, await csrFor(API));
    t.not(renewed.leaf.serial, caller.serial, 'new serial');
    t.match(await h.store.getCertificate(renewed.leaf.serial), {
      spiffeId: API,
      kind: 'svid',
      status: 'active',
      issuedAt: h.clock.now(),
    });
    t.equal((await h.store.listCertificates()).length, 2, 'the old certificate stays in the inventory');
    t.equal(h.signer.calls.at(-1)?.now, h.clock.now());
  });

  t.test('refusals name the problem and change nothing', async (t) => {
    interface Case {
      readonly name: string;
      readonly setup: (h: Harness) => Promise<{ caller: CallerCertificate; csr: Uint8Array }>;
      readonly code: string;
      readonly message: RegExp;
    }
    const cases: Case[] = [
      {
        name: 'different SPIFFE ID',
        setup: async (h) => ({ caller: (await attested(h)).caller, csr: await csrFor(WEB) }),
        code: ErrorCode.CSR_SPIFFE_ID_MISMATCH,
        message:
          /asks for spiffe:\/\/example\.org\/ns\/prod\/sa\/web, but the caller is spiffe:\/\/example\.org\/ns\/prod\/sa\/api/,
      },
      {
        name: 'same key as the current SVID',
        setup: async (h) => {
          const { caller, keys } = await attested(h);
          return { caller, csr: await csrFor(API, keys) };
        },
        code: ErrorCode.CSR_KEY_REUSED,
        message: /same key as the current SVID/,
      },
      {
        name: 'key of another certificate',
        setup: async (h) => {
          const { caller } = await attested(h);
          const other = await attested(h);
          return { caller, csr: await csrFor(API, other.keys) };
        },
        code: ErrorCode.CSR_KEY_REUSED,
        message: /already certified/,
      },
      {
        name: 'unknown caller serial',
        setup: async (h) => {
          const { caller } = await attested(h);
          return { caller: { ...caller, serial: 'ff'.repeat(16) }, csr: await csrFor(API) };
        },
        code: ErrorCode.PEER_UNAUTHENTICATED,
        message: /not an SVID issued by this control plane/,
      },
      {
        name: 'revoked caller',
        setup: async (h) => {
          const { record } = await attested(h);
          const revoked = {
            ...record,
            serial: 'ee'.repeat(16),
            publicKeySha256: 'ab'.repeat(32),
            status: 'revoked' as const,
          };
          await h.store.insertCertificate(revoked);
          return {
            caller: { spiffeId: parseSpiffeId(API), serial: revoked.serial, publicKeySha256: revoked.publicKeySha256 },
            csr: await csrFor(API),
          };
        },
        code: ErrorCode.REVOKED,
        message: /is revoked/,
      },
      {
        name: 'revoked identity, current certificate still active',
        setup: async (h) => {
          const { caller } = await attested(h);
          await h.store.revokeIdentity({ spiffeId: API, reason: 'superseded', revokedAt: h.clock.now() }, []);
          return { caller, csr: await csrFor(API) };
        },
        code: ErrorCode.REVOKED,
        message: /identity spiffe:\/\/example\.org\/ns\/prod\/sa\/api is revoked/,
      },
      {
        name: 'caller certificate is not an svid (admin)',
        setup: async (h) => {
          const { record } = await attested(h);
          const admin = {
            ...record,
            serial: 'dd'.repeat(16),
            spiffeId: `spiffe://${TD}/sigil/admin/default`,
            kind: 'admin' as const,
            publicKeySha256: 'cd'.repeat(32),
          };
          await h.store.insertCertificate(admin);
          return {
            caller: {
              spiffeId: parseSpiffeId(admin.spiffeId),
              serial: admin.serial,
              publicKeySha256: admin.publicKeySha256,
            },
            csr: await csrFor(API),
          };
        },
        code: ErrorCode.PEER_UNAUTHENTICATED,
        message: /not an SVID/,
      },
      {
        name: 'random bytes instead of a CSR',
        setup: async (h) => ({
          caller: (await attested(h)).caller,
          csr: globalThis.crypto.getRandomValues(new Uint8Array(64)),
        }),
        code: ErrorCode.CSR_MALFORMED,
        message: /not a DER PKCS#10 request/,
      },
    ];
    for (const c of cases) {
      const h = await harness(t);
      const { caller, csr } = await c.setup(h);
      const before = await h.snapshot();
      await t.rejects(h.issuer.renew(caller, csr), { code: c.code, message: c.message }, c.name);
      t.same(await h.snapshot(), before, `${c.name}: inventory and signature count unchanged`);
    }
  });
});

t.test('workload SVIDs (Workload API)', async (t) => {
  t.test('same SPIFFE ID, another key, and the sidecar’s own SVID is not superseded', async (t) => {
    const h = await harness(t);
    const { caller } = await attested(h);
    const first = await h.issuer.issueWorkloadSvid(caller, await csrFor(API));
    t.not(first.leaf.serial, caller.serial);
    t.match(await h.store.getCertificate(first.leaf.serial), { spiffeId: API, kind: 'svid', status: 'active' });
    t.notOk((await h.store.getCertificate(caller.serial))?.supersededBy, 'the proxy SVID keeps its lineage');
    const second = await h.issuer.issueWorkloadSvid(caller, await csrFor(API), first.leaf.serial);
    t.equal((await h.store.getCertificate(first.leaf.serial))?.supersededBy, second.leaf.serial, 'app lineage');
    t.notOk((await h.store.getCertificate(caller.serial))?.supersededBy);
    const renewed = await h.issuer.renew(caller, await csrFor(API));
    t.equal((await h.store.getCertificate(caller.serial))?.supersededBy, renewed.leaf.serial, 'renewal as before');
  });

  t.test(
    'refused like a renewal: another ID, the caller’s own key; never replaces another identity’s SVID',
    async (t) => {
      const h = await harness(t);
      const { caller, keys } = await attested(h);
      await t.rejects(h.issuer.issueWorkloadSvid(caller, await csrFor(WEB)), {
        code: ErrorCode.CSR_SPIFFE_ID_MISMATCH,
      });
      await t.rejects(h.issuer.issueWorkloadSvid(caller, await csrFor(API, keys)), { code: ErrorCode.CSR_KEY_REUSED });
      const other = await attested(h, WEB);
      await h.issuer.issueWorkloadSvid(caller, await csrFor(API), other.record.serial);
      t.notOk(
        (await h.store.getCertificate(other.record.serial))?.supersededBy,
        'another identity’s SVID is not replaced',
      );
    },
  );
});
