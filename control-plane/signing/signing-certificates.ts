import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { exportSpki, importPublicKey, keyTypeOfSpki, spkiSha256 } from '../../common/key-pair.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { IssuedLeaf, SigningCa } from '../ca/certificate-authority.ts';
import { checkSigningSubject, type SigningProfile, signingTtl } from '../ca/signing-templates.ts';
import { decodeCsr, keyAllowed, selfSignatureValid, signatureHashStrong } from '../issuance/csr-rules.ts';
import { recordOf } from '../lifecycle/inventory.ts';
import type { Store } from '../store/store.ts';

/**
 * Issues code-signing and TSA certificates from CSRs: the CSR's key policy, self-signature and hash are checked as
 * for SVIDs, its subject must name the signer, its key must be new to the inventory; the CA signs with the profile
 * and the certificate is recorded (kind `code-signing` or `timestamping`) before it is returned, so it is listed and
 * revocable like every other.
 */

export interface SigningCertificateRequest {
  /** DER PKCS#10. */
  readonly csr: Uint8Array;
  readonly profile: SigningProfile;
  /** Absent or 0: the profile's default. */
  readonly ttlMs?: number;
}

export interface SigningCertificateIssuerDeps {
  readonly ca: Pick<SigningCa, 'issueSigningCertificate'>;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly onIssued?: (leaf: IssuedLeaf, profile: SigningProfile) => void;
}

export class SigningCertificateIssuer {
  readonly #deps: SigningCertificateIssuerDeps;

  constructor(deps: SigningCertificateIssuerDeps) {
    this.#deps = deps;
  }

  async issue(request: SigningCertificateRequest): Promise<IssuedLeaf & { readonly subject: string }> {
    const ttlMs = signingTtl(request.profile, request.ttlMs);
    const csr = decodeCsr(request.csr);
    for (const rule of [keyAllowed, selfSignatureValid, signatureHashStrong]) await rule(csr);
    const subject = checkSigningSubject(csr.request.subject);
    const publicKey = await importPublicKey(csr.spki, keyTypeOfSpki(csr.spki));
    const { store, clock, ca, logger } = this.#deps;
    if (await store.hasPublicKey(spkiSha256(await exportSpki(publicKey)))) {
      throw new SigilError(
        ErrorCode.CSR_KEY_REUSED,
        'this key was already certified: every signing certificate gets a new key (use --key-out to make one)',
      );
    }
    const now = clock.now();
    const leaf = await ca.issueSigningCertificate({ profile: request.profile, subject, publicKey, ttlMs, now });
    await store.insertCertificate(recordOf(leaf, '', request.profile, leaf.issuerSerial, now));
    this.#deps.onIssued?.(leaf, request.profile);
    logger.info(
      {
        [LogField.serial]: leaf.serial,
        subject,
        profile: request.profile,
        [LogField.notAfter]: new Date(leaf.notAfter).toISOString(),
      },
      'signing certificate issued',
    );
    return { ...leaf, subject };
  }
}
