import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { KeyType } from '../../common/key-type.ts';
import { spkiSha256 } from '../../common/key-pair.ts';

/** A certificate the CA minted, in the shapes its callers need (inventory, files, wire). */
export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
  /** Lowercase hex as the DER holds it. */
  readonly serial: string;
  /** Unix milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The subject key's type. */
  readonly keyType: KeyType;
  /** Hex SHA-256 over the subject's DER SPKI. */
  readonly publicKeySha256: string;
}

export function issuedCertificate(cert: x509.X509Certificate, keyType: KeyType): IssuedCertificate {
  return Object.freeze({
    der: new Uint8Array(cert.rawData),
    pem: certificatePem(cert),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    keyType,
    publicKeySha256: spkiSha256(new Uint8Array(cert.publicKey.rawData)),
  });
}

/** One PEM block ending in a newline, so blocks concatenate into valid bundles. */
export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trim()}\n`;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text, in order; other blocks are ignored. */
export function parseCertificatesPem(text: string): x509.X509Certificate[] {
  return (text.match(PEM_BLOCK) ?? []).map((block) => new x509.X509Certificate(block));
}
