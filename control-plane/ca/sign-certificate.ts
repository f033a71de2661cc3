import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { KeyType } from '../../common/key-type.ts';
import { signingAlgorithm } from '../../common/key-pair.ts';
import { x509Signing } from '../keys/x509-signing.ts';
import type { SigningKey } from '../signing/signing-key.ts';
import type { CertificateTemplate } from './templates.ts';

const webcrypto = globalThis.crypto;

/** A WebCrypto key (in memory) or a key-store key (a file's or a PKCS#11 token's): the CA signs through either. */
export type CaSigningKey = CryptoKey | SigningKey;

export function isCryptoKey(key: CaSigningKey): key is CryptoKey {
  return key instanceof globalThis.CryptoKey;
}

/** The key and WebCrypto provider to hand to an @peculiar/x509 generator. */
export function generatorSigning(key: CaSigningKey): { signingKey: CryptoKey; crypto: typeof webcrypto } {
  return isCryptoKey(key)
    ? { signingKey: key, crypto: webcrypto }
    : (x509Signing(key) as { signingKey: CryptoKey; crypto: typeof webcrypto });
}

export interface SignCertificateInput {
  readonly template: CertificateTemplate;
  /** The subject's public key, or its DER SPKI (for a root, the signing key pair's own public key). */
  readonly publicKey: CryptoKey | Uint8Array;
  readonly signingKey: CaSigningKey;
  readonly signingKeyType: KeyType;
}

/** Signs a template exactly as given; deciding what goes into it is the templates' job, checking it the validator's. */
export async function signCertificate(input: SignCertificateInput): Promise<x509.X509Certificate> {
  const { template } = input;
  const { signingKey, crypto } = generatorSigning(input.signingKey);
  const signed = await x509.X509CertificateGenerator.create(
    {
      serialNumber: template.serialNumber,
      subject: template.subject,
      issuer: template.issuer,
      notBefore: template.notBefore,
      notAfter: template.notAfter,
      extensions: [...template.extensions],
      publicKey: input.publicKey instanceof Uint8Array ? Uint8Array.from(input.publicKey).buffer : input.publicKey,
      signingKey,
      signingAlgorithm: signingAlgorithm(input.signingKeyType),
    },
    crypto,
  );
  // Re-parse from DER so later checks see what relying parties will see, not the generator's objects.
  return new x509.X509Certificate(signed.rawData);
}

/** RFC 5280 method-1 key identifier (SHA-1 of the subjectPublicKey bits), hex. */
export async function keyIdentifier(publicKey: CryptoKey | Uint8Array): Promise<string> {
  const key =
    publicKey instanceof Uint8Array ? new x509.PublicKey(publicKey) : await x509.PublicKey.create(publicKey, webcrypto);
  return Buffer.from(await key.getKeyIdentifier(webcrypto)).toString('hex');
}

/** The SKI a CA certificate carries; undefined when it has none. */
export function subjectKeyIdOf(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}
