import t from 'tap';
import { createHash, KeyObject, sign } from 'node:crypto';
import { sigil } from '../../proto/index.ts';
import { ErrorCode } from '../errors.ts';
import type { KeyType } from '../key-type.ts';
import { controlPlaneId } from '../spiffe-id.ts';
import { makeKey, makeTestPki, type TestCert, type TestPki } from '../../test/fixtures/cert-factory.ts';
import type { SigilEvent } from './sigil-event.ts';
import { SignerChainCache } from './signer-chain-cache.ts';
import {
  signEvent,
  verifyEvent,
  type EventSigner,
  type RejectionReason,
  type VerifyEventOptions,
} from './signed-event.ts';
import type { EventKind } from './subjects.ts';

const TD = 'example.org';

interface Setup {
  readonly pki: TestPki;
  readonly cp: TestCert;
  readonly signer: EventSigner;
  readonly event: SigilEvent;
  /** A moment inside every test certificate's validity, derived from the certificates, not the wall clock. */
  readonly now: number;
}

async function setup(keyType?: KeyType): Promise<Setup> {
  const pki = await makeTestPki(TD, keyType === undefined ? {} : { keyType });
  const cp = await pki.issueSvid(controlPlaneId(TD));
  const signer = { chainDer: [cp.der, pki.intermediate.der], privateKey: cp.key.privateKey };
  const event: SigilEvent = {
    type: 'bundle.updated',
    roots: [pki.root.der],
    bundleSequence: 7,
    refreshHintSeconds: 60,
  };
  return { pki, cp, signer, event, now: cp.cert.notBefore.getTime() + 60_000 };
}

function options(s: Setup, over: Partial<VerifyEventOptions> = {}): VerifyEventOptions {
  return { trustDomain: TD, roots: [s.pki.root.der], now: s.now, lastSequence: () => 4, ...over };
}

function sign5(
  s: Setup,
  over: { signer?: EventSigner; trustDomain?: string; sequence?: number } = {},
): Promise<Uint8Array> {
  return signEvent({
    event: s.event,
    trustDomain: over.trustDomain ?? TD,
    sequence: over.sequence ?? 5,
    issuedAt: s.now,
    signer: over.signer ?? s.signer,
  });
}

/** Signs an arbitrary body the way the control plane would, for kinds and payloads signEvent cannot produce. */
function signRawBody(s: Setup, body: sigil.v1.EventBody.$Properties): Uint8Array {
  const bytes = sigil.v1.EventBody.encode(body).finish();
  const signature = sign('sha256', bytes, { key: KeyObject.from(s.signer.privateKey), dsaEncoding: 'der' });
  return sigil.v1.SignedEvent.encode({ body: bytes, signature, signerChain: [...s.signer.chainDer] }).finish();
}

/** Deterministic "random" bytes. */
function garbage(seed: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < length; i++) {
    if (i % 32 === 0 && i > 0) block = createHash('sha256').update(block).digest();
    out[i] = block[i % 32] ?? 0;
  }
  return out;
}

t.test('a control-plane signed event verifies, for every key type', async (t) => {
  for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
    const s = await setup(keyType);
    const asked: EventKind[] = [];
    const result = verifyEvent(await sign5(s), options(s, { lastSequence: (k) => (asked.push(k), 4) }));
    t.same(
      result,
      { ok: true, kind: 'bundle', sequence: 5, issuedAt: s.now, event: s.event, signerSerial: s.cp.serial },
      keyType,
    );
    t.same(asked, ['bundle'], `${keyType}: the replay window is asked for the event's kind`);
  }
});

t.test('bad input is rejected with its reason', async (t) => {
  const s = await setup();
  const other = await makeTestPki(TD);
  const otherCp = await other.issueSvid(controlPlaneId(TD));
  const workload = await s.pki.issueSvid(`spiffe://${TD}/ns/x/sa/y`);
  const foreignCp = await s.pki.issueSvid(controlPlaneId('other.org'));
  const valid = await sign5(s);
  const modified = (() => {
    const env = sigil.v1.SignedEvent.decode(valid);
    const body = sigil.v1.EventBody.decode(env.body);
    body.sequence = 99;
    return sigil.v1.SignedEvent.encode({ ...env, body: sigil.v1.EventBody.encode(body).finish() }).finish();
  })();
  const payload = sigil.v1.BundleUpdate.encode({ roots: [s.pki.root.der], bundleSequence: 1 }).finish();
  const cases: {
    name: string;
    bytes: Uint8Array | Promise<Uint8Array>;
    reason: RejectionReason;
    opts?: Partial<VerifyEventOptions>;
  }[] = [
    {
      name: 'forged with another key',
      bytes: sign5(s, { signer: { ...s.signer, privateKey: (await makeKey()).privateKey } }),
      reason: 'bad-signature',
    },
    { name: 'signature over a modified body', bytes: modified, reason: 'bad-signature' },
    {
      name: 'a signature that is not DER',
      bytes: sigil.v1.SignedEvent.encode({
        ...sigil.v1.SignedEvent.decode(valid),
        signature: garbage('s', 71),
      }).finish(),
      reason: 'bad-signature',
    },
    {
      name: 'a valid SVID that is not the control plane',
      bytes: sign5(s, {
        signer: { chainDer: [workload.der, s.pki.intermediate.der], privateKey: workload.key.privateKey },
      }),
      reason: 'not-control-plane',
    },
    {
      name: 'a control-plane SVID chaining to another CA',
      bytes: sign5(s, {
        signer: { chainDer: [otherCp.der, other.intermediate.der], privateKey: otherCp.key.privateKey },
      }),
      reason: 'untrusted-signer',
    },
    {
      name: 'the signer chain without its intermediate',
      bytes: sign5(s, { signer: { ...s.signer, chainDer: [s.cp.der] } }),
      reason: 'untrusted-signer',
    },
    {
      name: 'verified after the signer expired',
      bytes: valid,
      reason: 'untrusted-signer',
      opts: { now: s.cp.cert.notAfter.getTime() + 1 },
    },
    { name: 'an empty bundle', bytes: valid, reason: 'untrusted-signer', opts: { roots: [] } },
    { name: 'replayed: same sequence', bytes: valid, reason: 'replayed', opts: { lastSequence: () => 5 } },
    { name: 'replayed: older sequence', bytes: valid, reason: 'replayed', opts: { lastSequence: () => 6 } },
    { name: 'truncated', bytes: valid.subarray(0, valid.length - 10), reason: 'malformed' },
    { name: 'truncated in half', bytes: valid.subarray(0, Math.floor(valid.length / 2)), reason: 'malformed' },
    { name: 'empty', bytes: new Uint8Array(0), reason: 'malformed' },
    { name: 'garbage 1', bytes: garbage('a', 200), reason: 'malformed' },
    { name: 'garbage 2', bytes: garbage('b', 1500), reason: 'malformed' },
    { name: 'text', bytes: new TextEncoder().encode('{"kind":"bundle","roots":[]}'), reason: 'malformed' },
    { name: 'oversized', bytes: new Uint8Array(1024 * 1024 + 1), reason: 'malformed' },
    {
      name: 'another trust domain in the body',
      bytes: sign5(s, { trustDomain: 'other.org' }),
      reason: 'wrong-trust-domain',
    },
    {
      name: "another trust domain's control plane under a shared root",
      bytes: sign5(s, {
        signer: { chainDer: [foreignCp.der, s.pki.intermediate.der], privateKey: foreignCp.key.privateKey },
      }),
      reason: 'wrong-trust-domain',
    },
    {
      name: 'an unknown kind',
      bytes: signRawBody(s, { kind: 'nonsense', trustDomain: TD, sequence: 5, issuedAtUnixMs: s.now, payload }),
      reason: 'unknown-kind',
    },
    {
      name: 'a bundle payload under the rotate kind',
      bytes: signRawBody(s, { kind: 'rotate', trustDomain: TD, sequence: 5, issuedAtUnixMs: s.now, payload }),
      reason: 'malformed',
    },
    {
      name: 'a bundle payload without roots',
      bytes: signRawBody(s, {
        kind: 'bundle',
        trustDomain: TD,
        sequence: 5,
        issuedAtUnixMs: s.now,
        payload: sigil.v1.BundleUpdate.encode({ bundleSequence: 1 }).finish(),
      }),
      reason: 'malformed',
    },
    {
      name: 'a payload that is not a BundleUpdate',
      bytes: signRawBody(s, {
        kind: 'bundle',
        trustDomain: TD,
        sequence: 5,
        issuedAtUnixMs: s.now,
        payload: new Uint8Array([0xff, 0xff, 0xff]),
      }),
      reason: 'malformed',
    },
  ];
  for (const c of cases) {
    const result = verifyEvent(await c.bytes, options(s, c.opts));
    t.match(result, { ok: false, reason: c.reason }, c.name);
  }
});

t.test('no prefix of a valid event verifies', async (t) => {
  const s = await setup();
  const valid = await sign5(s);
  const accepted = [];
  for (let n = 0; n < valid.length; n++) {
    if (verifyEvent(valid.subarray(0, n), options(s)).ok) accepted.push(n);
  }
  t.same(accepted, []);
});

t.test('signer chains are cached per (roots, chain) until the path expires', async (t) => {
  const s = await setup();
  const cache = new SignerChainCache({ maxEntries: 2 });
  const bytes = await sign5(s);
  t.ok(verifyEvent(bytes, options(s, { cache })).ok);
  t.equal(cache.size, 1);
  const key = cache.key([s.pki.root.der], s.signer.chainDer);
  const hit = cache.get(key, s.now);
  t.ok(hit, 'the validated signer is cached');
  // Poison the entry with another key: a verifier that consults the cache now fails the signature.
  const stranger = await makeKey();
  cache.set(key, { ...hit!, publicKey: KeyObject.from(stranger.publicKey) });
  t.match(verifyEvent(bytes, options(s, { cache })), { ok: false, reason: 'bad-signature' }, 'the cache is consulted');
  t.match(
    verifyEvent(bytes, options(s, { cache, now: s.cp.cert.notAfter.getTime() + 1 })),
    { ok: false, reason: 'untrusted-signer' },
    'an expired entry is not used',
  );
  t.equal(cache.get(key, s.now), undefined, 'and is evicted');
  t.ok(
    verifyEvent(bytes, options(s, { cache, roots: [s.pki.root.der, (await makeTestPki('x.org')).root.der] })).ok,
    'other roots: validated afresh',
  );
  t.not(
    cache.key([s.pki.root.der], s.signer.chainDer),
    cache.key([s.pki.root.der], [s.cp.der]),
    'the chain is part of the key',
  );
  for (let i = 0; i < 3; i++) cache.set(`k${i}`, hit!);
  t.equal(cache.size, 2, 'bounded');
});

t.test('signEvent refuses what it cannot sign', async (t) => {
  const s = await setup();
  await t.rejects(sign5(s, { sequence: 0 }), { code: ErrorCode.INVALID_ARGUMENT });
  await t.rejects(sign5(s, { signer: { ...s.signer, chainDer: [] } }), { code: ErrorCode.INVALID_ARGUMENT });
});

t.test('a flood of new signer chains is refused before any signature is checked', async (t) => {
  const s = await setup();
  const good = await sign5(s);
  const long = await sign5(s, {
    signer: { ...s.signer, chainDer: [s.cp.der, ...Array.from({ length: 7 }, () => s.pki.intermediate.der)] },
  });
  t.match(verifyEvent(long, options(s)), { ok: false, reason: 'malformed' }, 'a chain longer than 4 is unparsed');
  let asked = 0;
  const refuse = () => {
    asked++;
    return false;
  };
  t.match(
    verifyEvent(good, options(s, { allowUncachedValidation: refuse })),
    { ok: false, reason: 'over-budget' },
    'an uncached chain past the budget is dropped without validation',
  );
  t.equal(asked, 1);
  const cache = new SignerChainCache();
  t.match(verifyEvent(good, options(s, { cache })), { ok: true }, 'within budget it validates and is cached');
  t.match(
    verifyEvent(good, options(s, { cache, allowUncachedValidation: refuse })),
    { ok: true },
    'the cached control-plane chain never needs the budget',
  );
  t.equal(asked, 1);
  const stranger = await s.pki.issueSvid(`spiffe://${TD}/ns/x/sa/forger`);
  const forged = await sign5(s, {
    signer: { chainDer: [stranger.der, s.pki.intermediate.der], privateKey: stranger.key.privateKey },
  });
  t.match(
    verifyEvent(forged, options(s, { allowUncachedValidation: refuse })),
    { ok: false, reason: 'not-control-plane' },
    'a leaf that is not the control plane is refused by a parse, before the budget is spent',
  );
  t.equal(asked, 1);
});
