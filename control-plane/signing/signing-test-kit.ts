import { KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { createLogger } from '../../common/logger.ts';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import { mintCa } from '../ca/mint-ca.ts';
import { seededRandomBytes } from '../ca/seeded-random-bytes.ts';
import type { SigningProfile } from '../ca/signing-templates.ts';
import { DAY_MS } from '../ca/templates.ts';
import { digestOf, inspectTimestampToken, timestampRequest, tokenOfReply } from './timestamp-token.ts';
import { signDigest, type SignerMaterial, type Timestamper } from './sign-artifact.ts';
import { keyObjectSigningKey, signatureAlgorithmOf } from './signing-key.ts';
import { SqliteTimestampLog } from './tsa/timestamp-log.ts';
import { TimestampAuthority } from './tsa/timestamp-authority.ts';

/**
 * A code-signing world built by the production code at a fixed fake time: a CA (root + intermediate) minted at T0,
 * a code-signing certificate and a TSA certificate it issued, and a TSA on a FakeClock with its log in a temp dir.
 * Tests sign at any fake moment and judge at any other.
 */

export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
export const SIGNER_TTL_MS = 30 * DAY_MS;
export const TSA_POLICY = '1.3.6.1.4.1.99999.1';

export interface Signer extends SignerMaterial {
  readonly leafDer: Uint8Array;
  readonly serial: string;
}

export interface SigningKit {
  readonly ca: CertificateAuthority;
  /** The root, as a verifier's bundle. */
  readonly roots: readonly Uint8Array[];
  readonly signer: Signer;
  readonly tsaSigner: Signer;
  readonly tsa: TimestampAuthority;
  readonly clock: FakeClock;
  readonly log: SqliteTimestampLog;
  readonly dir: string;
  /** A certificate of `profile` issued at `now`. */
  issue(
    profile: SigningProfile,
    subject: string,
    options?: { now?: number; ttlMs?: number; keyType?: KeyType },
  ): Promise<Signer>;
  /** The in-process TSA as a Timestamper, at the kit clock's time. */
  readonly timestamper: Timestamper;
  /** Signs `content` at `at` (the TSA stamps at the same fake time). */
  sign(
    content: Uint8Array,
    at: number,
    options?: { signer?: Signer; timestamper?: Timestamper | null },
  ): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function makeSigningKit(seed = 'signing-kit'): Promise<SigningKit> {
  const { ca, root } = await mintCa({
    trustDomain: 'example.org',
    keyType: 'ec-p256',
    now: T0 - DAY_MS,
    randomBytes: seededRandomBytes(seed),
  });
  const issue: SigningKit['issue'] = async (profile, subject, options = {}) => {
    const keys = await generateKeyPair(options.keyType ?? 'ec-p256');
    const leaf = await ca.issueSigningCertificate({
      profile,
      subject,
      publicKey: keys.publicKey,
      ttlMs: options.ttlMs ?? SIGNER_TTL_MS,
      now: options.now ?? T0,
    });
    return {
      chainDer: [leaf.der, ...leaf.chainDer],
      key: keyObjectSigningKey(KeyObject.from(keys.privateKey), `${subject} test key`),
      leafDer: leaf.der,
      serial: leaf.serial,
    };
  };
  const signer = await issue('code-signing', 'CN=release-pipeline,O=Acme');
  const tsaSigner = await issue('timestamping', 'CN=Acme TSA,O=Acme', { ttlMs: 300 * DAY_MS });
  const dir = await mkdtemp(join(tmpdir(), 'sigil-signing-'));
  const clock = new FakeClock(T0);
  const log = new SqliteTimestampLog({ path: join(dir, 'tsa.db'), clock });
  const tsa = new TimestampAuthority(
    { chainDer: tsaSigner.chainDer, policy: TSA_POLICY },
    { key: tsaSigner.key, log, clock, logger: createLogger({ component: 'tsa', level: 'silent' }) },
  );
  let nonce = 0;
  const timestamper: Timestamper = async (stamped) => {
    const request = timestampRequest({ stamped, digest: 'SHA-256', nonce: Uint8Array.of(1, 0, 0, ++nonce) });
    return inspectTimestampToken(tokenOfReply(await tsa.respond(request.der, 'test')), stamped);
  };
  return {
    ca,
    roots: [new Uint8Array(root.cert.rawData)],
    signer,
    tsaSigner,
    tsa,
    clock,
    log,
    dir,
    issue,
    timestamper,
    async sign(content, at, options = {}) {
      const material = options.signer ?? signer;
      if (at > clock.now()) clock.set(at);
      const stamp = options.timestamper === undefined ? timestamper : options.timestamper;
      const digest = digestOf(signatureAlgorithmOf(material.key.keyType).digest, content);
      const signed = await signDigest(material, digest, {
        now: at,
        format: 'der',
        ...(stamp ? { timestamper: stamp } : {}),
      });
      if (signed.timestampError) throw signed.timestampError;
      return signed.signature;
    },
    async close() {
      log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
