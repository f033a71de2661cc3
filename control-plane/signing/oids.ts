/** Object identifiers of CMS (RFC 5652), ESS (RFC 2634/5035) and the time-stamp protocol (RFC 3161). */
export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  /** ESS signing-certificate (ESSCertID, SHA-1): read for external TSAs, never written. */
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  /** RFC 3161 appendix A: the unsigned attribute that carries a time-stamp token over the signature value. */
  timeStampToken: '1.2.840.113549.1.9.16.2.14',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
} as const;

export type DigestName = 'SHA-256' | 'SHA-384' | 'SHA-512';

const DIGESTS: Readonly<Record<string, DigestName>> = {
  [OID.sha256]: 'SHA-256',
  [OID.sha384]: 'SHA-384',
  [OID.sha512]: 'SHA-512',
};

/** The digest an OID names when Sigil accepts it (SHA-1 and anything weaker: undefined). */
export function digestOfOid(oid: string): DigestName | undefined {
  return DIGESTS[oid];
}

export function oidOfDigest(digest: DigestName): string {
  switch (digest) {
    case 'SHA-256':
      return OID.sha256;
    case 'SHA-384':
      return OID.sha384;
    case 'SHA-512':
      return OID.sha512;
  }
}

/** node:crypto's name for a digest. */
export function nodeDigestName(digest: DigestName | 'SHA-1'): string {
  return digest.replace('-', '').toLowerCase();
}

/**
 * asn1js (under pkijs) prints an OID arc too big for a double as `{hex}` of its 7-bit groups; UUID-derived OIDs
 * (2.25.<128-bit UUID>, a common choice for private policies) have such arcs. Restores the decimal form.
 */
export function decimalOid(text: string): string {
  return text.replace(/\{([0-9a-f]+)\}/gi, (_, hex: string) =>
    [...Buffer.from(hex, 'hex')].reduce((value, group) => (value << 7n) | BigInt(group & 0x7f), 0n).toString(),
  );
}
