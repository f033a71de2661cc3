import 'reflect-metadata';
import t from 'tap';
import { KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import { generateKeyPair } from '../../../common/key-pair.ts';
import { makeCert, makeTestPki } from '../../../test/fixtures/cert-factory.ts';
import { DAY_MS } from '../../ca/templates.ts';
import {
  attachTimestampToken,
  decodeSignature,
  encodeSignature,
  signatureValueOf,
  timestampTokenOf,
} from '../cms-signature.ts';
import { OID } from '../oids.ts';
import { signDigest } from '../sign-artifact.ts';
import { contentInfoDer, signedData, signerInfo } from '../signer-info.ts';
import { keyObjectSigningKey } from '../signing-key.ts';
import { makeSigningKit, T0, TSA_POLICY } from '../signing-test-kit.ts';
import { digestOf, inspectTimestampToken, timestampRequest } from '../timestamp-token.ts';
import { buildTimestampToken } from '../tsa/token-builder.ts';
import type { RevocationEntry } from './revocation-rule.ts';
import { collectEvidence, verifyArtifact } from './verify-artifact.ts';
import { type CheckName, judgeSignature, type RevocationView, type VerificationPolicy } from './verification-rules.ts';

// Issue 15, "done when": the verification rules as table tests on a fake clock. Every signature here is made by the
// production signing code at a fake moment (T0 + n days) and judged at another; the failed check is named.

const kit = await makeSigningKit();
t.teardown(() => kit.close());
const CONTENT = new TextEncoder().encode('release 1.0 tarball');
const SIGNED_AT = T0 + DAY_MS;
const stamped = await kit.sign(CONTENT, SIGNED_AT);
const untimestamped = await kit.sign(CONTENT, SIGNED_AT, { timestamper: null });
const genTimeOf = async (p7s: Uint8Array) => {
  const token = timestampTokenOf(decodeSignature(p7s))!;
  return (await inspectTimestampToken(token, signatureValueOf(decodeSignature(p7s)))).genTime;
};
const GEN_TIME = await genTimeOf(stamped);
const ACCURACY_MS = 1000;

function revoked(serial: string, reason: string, effectiveAt: number): RevocationView {
  const entry: RevocationEntry = { serial, reason, effectiveAt, revokedAt: effectiveAt };
  return { entries: new Map([[serial.replace(/^0+/, ''), entry]]), source: 'test CRL' };
}
const signerRevoked = (reason: string, at: number) => revoked(kit.signer.serial, reason, at);
const policy = (overrides: Partial<VerificationPolicy> = {}): VerificationPolicy => ({
  roots: kit.roots,
  tsaRoots: kit.roots,
  now: SIGNED_AT + DAY_MS,
  ...overrides,
});

async function judge(p7s: Uint8Array, p: VerificationPolicy, content: Uint8Array = CONTENT) {
  const evidence = await collectEvidence(decodeSignature(p7s), async (d) => digestOf(d, content));
  return judgeSignature(evidence, p);
}

/** Flips the last byte of `needle` where it occurs in `haystack`. */
function flipIn(haystack: Uint8Array, needle: Uint8Array): Uint8Array {
  const at = Buffer.from(haystack).indexOf(Buffer.from(needle));
  if (at < 0) throw new Error('needle not found');
  const copy = Uint8Array.from(haystack);
  copy[at + needle.length - 1]! ^= 0x01;
  return copy;
}

const otherPki = await makeTestPki('other.example');

interface Case {
  readonly name: string;
  readonly signature: () => Promise<Uint8Array>;
  readonly policy: VerificationPolicy;
  readonly content?: Uint8Array;
  readonly valid: boolean;
  readonly failed?: CheckName;
  readonly basis?: 'timestamp' | 'now';
}

const cases: Case[] = [
  {
    name: 'signed and timestamped, judged while the certificate is valid',
    signature: async () => stamped,
    policy: policy(),
    valid: true,
    basis: 'timestamp',
  },
  {
    name: 'signed and timestamped, judged after the certificate (and the CA) expired',
    signature: async () => stamped,
    policy: policy({ now: T0 + 3 * 365 * DAY_MS }),
    valid: true,
    basis: 'timestamp',
  },
  {
    name: 'revoked for keyCompromise after the timestamp: valid',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('keyCompromise', GEN_TIME + DAY_MS) }),
    valid: true,
  },
  {
    name: 'revoked for keyCompromise after the timestamp, strict rule: invalid',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('keyCompromise', GEN_TIME + DAY_MS), strictKeyCompromise: true }),
    valid: false,
    failed: 'revocation',
  },
  {
    name: 'revoked for keyCompromise before the timestamp: invalid',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('keyCompromise', GEN_TIME - 3_600_000) }),
    valid: false,
    failed: 'revocation',
  },
  {
    name: 'keyCompromise effective within the timestamp accuracy: invalid (not provably before)',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('keyCompromise', GEN_TIME + ACCURACY_MS) }),
    valid: false,
    failed: 'revocation',
  },
  {
    name: 'revoked as superseded before the timestamp: invalid',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('superseded', GEN_TIME - 3_600_000) }),
    valid: false,
    failed: 'revocation',
  },
  {
    name: 'revoked as superseded after the timestamp, even with the strict rule: valid',
    signature: async () => stamped,
    policy: policy({ revocation: signerRevoked('superseded', GEN_TIME + DAY_MS), strictKeyCompromise: true }),
    valid: true,
  },
  {
    name: 'the TSA certificate revoked for keyCompromise before the timestamp: invalid',
    signature: async () => stamped,
    policy: policy({ revocation: revoked(kit.tsaSigner.serial, 'keyCompromise', GEN_TIME - 3_600_000) }),
    valid: false,
    failed: 'timestamp-revocation',
  },
  {
    name: 'untimestamped, judged while the certificate is valid',
    signature: async () => untimestamped,
    policy: policy(),
    valid: true,
    basis: 'now',
  },
  {
    name: 'untimestamped, judged after the certificate expired: invalid',
    signature: async () => untimestamped,
    policy: policy({ now: T0 + 31 * DAY_MS }),
    valid: false,
    failed: 'chain',
  },
  {
    name: 'untimestamped, certificate revoked (superseded) after signing: invalid',
    signature: async () => untimestamped,
    policy: policy({ revocation: signerRevoked('superseded', SIGNED_AT + 3_600_000) }),
    valid: false,
    failed: 'revocation',
  },
  {
    name: 'untimestamped when a timestamp is required',
    signature: async () => untimestamped,
    policy: policy({ requireTimestamp: true }),
    valid: false,
    failed: 'timestamp',
  },
  {
    name: 'an expired signing certificate used to sign (timestamped after notAfter): invalid',
    signature: () => kit.sign(CONTENT, T0 + 40 * DAY_MS),
    policy: policy({ now: T0 + 41 * DAY_MS }),
    valid: false,
    failed: 'chain',
  },
  {
    name: 'tampered file',
    signature: async () => stamped,
    content: new TextEncoder().encode('release 1.0 tarball, patched'),
    policy: policy(),
    valid: false,
    failed: 'digest',
  },
  {
    name: 'tampered signature value',
    signature: async () => flipIn(stamped, signatureValueOf(decodeSignature(stamped))),
    policy: policy(),
    valid: false,
    failed: 'signature',
  },
  {
    name: 'signed with an SVID (serverAuth/clientAuth, no codeSigning)',
    signature: async () => {
      const keys = await generateKeyPair('ec-p256');
      const svid = await kit.ca.issueLeaf({
        spiffeId: 'spiffe://example.org/ns/prod/sa/api',
        publicKey: keys.publicKey,
        ttlMs: DAY_MS,
        now: SIGNED_AT,
      });
      const material = {
        chainDer: [svid.der, ...svid.chainDer],
        key: keyObjectSigningKey(KeyObject.from(keys.privateKey), 'svid key'),
      };
      return (
        await signDigest(material, digestOf('SHA-256', CONTENT), {
          now: SIGNED_AT,
          format: 'der',
          timestamper: kit.timestamper,
        })
      ).signature;
    },
    policy: policy(),
    valid: false,
    failed: 'eku',
  },
  {
    name: 'signed with the TSA certificate (timeStamping, not codeSigning)',
    signature: () => kit.sign(CONTENT, SIGNED_AT, { signer: kit.tsaSigner }),
    policy: policy(),
    valid: false,
    failed: 'eku',
  },
  {
    name: 'a token lifted from another signature (imprint does not match)',
    signature: async () => {
      const other = await kit.sign(new TextEncoder().encode('another file'), SIGNED_AT);
      const data = decodeSignature(untimestamped);
      attachTimestampToken(data, timestampTokenOf(decodeSignature(other))!);
      return encodeSignature(data, 'der');
    },
    policy: policy(),
    valid: false,
    failed: 'timestamp-imprint',
  },
  {
    name: 'a tampered token (TSTInfo changed after the TSA signed it)',
    signature: async () => {
      const token = await inspectTimestampToken(
        timestampTokenOf(decodeSignature(stamped))!,
        signatureValueOf(decodeSignature(stamped)),
      );
      return flipIn(stamped, Buffer.from(token.serial, 'hex'));
    },
    policy: policy(),
    valid: false,
    failed: 'timestamp-signature',
  },
  {
    name: 'a token from a TSA whose timeStamping EKU is not critical',
    signature: async () => {
      const tsaCert = await makeCert({
        subject: 'CN=lax TSA',
        issuer: otherPki.intermediate,
        extKeyUsage: ['timeStamping'],
        extKeyUsageCritical: false,
      });
      const data = decodeSignature(untimestamped);
      const request = pkijs.TimeStampReq.fromBER(
        timestampRequest({ stamped: signatureValueOf(data), digest: 'SHA-256', nonce: Uint8Array.of(7) }).der,
      );
      const token = await buildTimestampToken({
        chainDer: [tsaCert.der, otherPki.intermediate.der],
        key: keyObjectSigningKey(KeyObject.from(tsaCert.key.privateKey), 'lax'),
        policy: TSA_POLICY,
        messageImprint: request.messageImprint,
        serial: Uint8Array.of(1),
        genTime: GEN_TIME,
        accuracyMs: 1000,
        includeCertificates: true,
      });
      attachTimestampToken(data, token);
      return encodeSignature(data, 'der');
    },
    policy: policy({ tsaRoots: [...kit.roots, otherPki.root.der] }),
    valid: false,
    failed: 'timestamp-eku',
  },
  {
    name: 'a signer whose ESS signing-certificate names another certificate',
    signature: async () => {
      const info = await signerInfo({
        certificate: pkijs.Certificate.fromBER(kit.signer.leafDer),
        certificateDer: kit.tsaSigner.leafDer,
        key: kit.signer.key,
        contentType: OID.data,
        contentDigest: digestOf('SHA-256', CONTENT),
      });
      return contentInfoDer(
        signedData(info, new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }), kit.signer.chainDer),
      );
    },
    policy: policy(),
    valid: false,
    failed: 'signing-certificate',
  },
  {
    name: 'a signer that does not chain to the bundle',
    signature: async () => stamped,
    policy: policy({ roots: [otherPki.root.der] }),
    valid: false,
    failed: 'chain',
  },
  {
    name: 'a TSA that does not chain to the TSA bundle',
    signature: async () => stamped,
    policy: policy({ tsaRoots: [otherPki.root.der] }),
    valid: false,
    failed: 'timestamp-chain',
  },
  {
    name: 'the signer named by its CN',
    signature: async () => stamped,
    policy: policy({ signerName: 'release-pipeline' }),
    valid: true,
  },
  {
    name: 'another signer than the one required',
    signature: async () => stamped,
    policy: policy({ signerName: 'nightly-pipeline' }),
    valid: false,
    failed: 'signer-name',
  },
  {
    name: 'another TSA policy than the one required',
    signature: async () => stamped,
    policy: policy({ tsaPolicy: '1.3.6.1.4.1.99999.2' }),
    valid: false,
    failed: 'timestamp-policy',
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const verdict = await judge(await c.signature(), c.policy, c.content);
    t.equal(verdict.valid, c.valid, c.valid ? 'valid' : `invalid: ${verdict.failed?.detail}`);
    t.equal(verdict.failed?.check, c.failed, c.failed ? `the ${c.failed} check is named` : 'no check failed');
    if (c.failed) t.equal(verdict.checks.at(-1)?.check, c.failed, 'the failure is the last check that ran');
    if (c.basis) t.equal(verdict.basis, c.basis, `judged at ${c.basis === 'now' ? 'now' : "the timestamp's time"}`);
    if (c.valid && c.basis === 'timestamp') t.equal(verdict.judgedAt, GEN_TIME + ACCURACY_MS);
  });
}

t.test('a file that is not a signature fails the format check', async (t) => {
  const verdict = await verifyArtifact({
    signature: new TextEncoder().encode('not a signature'),
    contentDigest: async (d) => digestOf(d, CONTENT),
    policy: policy(),
  });
  t.equal(verdict.valid, false);
  t.equal(verdict.failed?.check, 'format');
});

t.test('PEM signatures verify like DER ones', async (t) => {
  const data = decodeSignature(stamped);
  const verdict = await judge(encodeSignature(data, 'pem'), policy());
  t.equal(verdict.valid, true, verdict.failed?.detail ?? '');
  t.equal(verdict.timestamp?.policy, TSA_POLICY, 'the token names the TSA policy');
});
