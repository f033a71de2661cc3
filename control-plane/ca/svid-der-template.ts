import { createHash, createPublicKey, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { bytesOf, childrenOf, DER, readTlv, tlv, type Tlv } from './der-tlv.ts';

/** What varies between two X.509-SVIDs of one issuer and one leaf key type. */
export interface SvidFields {
  /** The 16 serial bytes, positive without padding (randomSerial). */
  readonly serial: Uint8Array;
  /** Whole seconds, Unix milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The subject's DER SubjectPublicKeyInfo, as the library would embed it. */
  readonly spki: Uint8Array;
  /** The SPIFFE ID, the only SAN. */
  readonly uri: string;
}

type ExtensionPart =
  | { readonly kind: 'fixed'; readonly der: Uint8Array }
  | { readonly kind: 'subjectKeyId' }
  | { readonly kind: 'subjectAltName'; readonly critical: boolean };

const OID_SKI = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x0e);
const OID_SAN = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x11);
const CRITICAL = Uint8Array.of(0x01, 0x01, 0xff);
const SERIAL_BYTES = 16;
/** UTCTime covers 1950-2049; later times are GeneralizedTime, left to the library. */
const UTC_TIME_LIMIT = Date.UTC(2050, 0, 1);
const UTC_TIME_START = Date.UTC(1950, 0, 1);

/** The hash of each signature algorithm Sigil's CAs sign with (RFC 5758, RFC 8017). */
const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** PEM of a DER certificate, as OpenSSL and the library write it: 64-character lines, ending in a newline. */
export function certificatePemOfDer(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let at = 0; at < base64.length; at += 64) lines.push(base64.slice(at, at + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function utcTime(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-12-03T13:29:08.000Z
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return tlv(DER.UTC_TIME, Buffer.from(text, 'latin1'));
}

/** RFC 5280 method-1 key identifier: SHA-1 over the subjectPublicKey BIT STRING's bits. */
export function subjectKeyIdOfSpki(spki: Uint8Array): Uint8Array {
  const [, bits] = childrenOf(spki, readTlv(spki, 0));
  if (bits?.tag !== DER.BIT_STRING) throw new RangeError('the SubjectPublicKeyInfo has no BIT STRING');
  return createHash('sha1')
    .update(spki.subarray(bits.contentStart + 1, bits.end))
    .digest();
}

/**
 * The X.509-SVID profile as a DER template: everything an SVID of one issuer and one leaf key type shares (version,
 * signature algorithm, issuer and subject names, basic constraints, key usage, EKU, AKI) is taken as bytes from a
 * certificate the library built and the validator passed; `tbs` fills in serial, validity, key, SKI and URI SAN.
 * `derive` only returns a template that rebuilds that certificate's to-be-signed bytes exactly, so the template
 * cannot encode anything the library would not. Signing uses node:crypto with the CA's key.
 */
export class SvidDerTemplate {
  readonly #version: Uint8Array;
  readonly #signatureAlgorithm: Uint8Array;
  readonly #issuer: Uint8Array;
  readonly #subject: Uint8Array;
  readonly #extensions: readonly ExtensionPart[];
  readonly #signingKey: KeyObject;
  readonly #verifyKey: KeyObject;
  readonly #hash: string;

  private constructor(parts: {
    version: Uint8Array;
    signatureAlgorithm: Uint8Array;
    issuer: Uint8Array;
    subject: Uint8Array;
    extensions: readonly ExtensionPart[];
    signingKey: KeyObject;
    verifyKey: KeyObject;
    hash: string;
  }) {
    this.#version = parts.version;
    this.#signatureAlgorithm = parts.signatureAlgorithm;
    this.#issuer = parts.issuer;
    this.#subject = parts.subject;
    this.#extensions = parts.extensions;
    this.#signingKey = parts.signingKey;
    this.#verifyKey = parts.verifyKey;
    this.#hash = parts.hash;
  }

  /**
   * The template of `prototype` (a library-built SVID with exactly one URI SAN, `fields` being what was filled in),
   * or undefined when its layout is not the expected one or the template does not rebuild its TBS byte for byte.
   * `signing.issuerPublicKey` (the intermediate certificate's key; by default the signing key's public half) checks
   * every signature made.
   */
  static derive(
    prototype: Uint8Array,
    fields: SvidFields,
    signing: { readonly key: KeyObject; readonly issuerPublicKey?: KeyObject },
  ): SvidDerTemplate | undefined {
    try {
      const cert = readTlv(prototype, 0);
      const [tbs] = childrenOf(prototype, cert);
      if (!tbs) return undefined;
      const [version, serial, algorithm, issuer, , subject, , wrapper, ...rest] = childrenOf(prototype, tbs);
      if (version?.tag !== 0xa0 || serial?.tag !== DER.INTEGER || !algorithm || !issuer || !subject) return undefined;
      if (wrapper?.tag !== 0xa3 || rest.length > 0) return undefined;
      const [list] = childrenOf(prototype, wrapper);
      if (!list) return undefined;
      const extensions = childrenOf(prototype, list).map((ext) => extensionPart(prototype, ext));
      const hash = SIGNATURE_HASHES[new X509Certificate(prototype).signatureAlgorithmOid ?? ''];
      if (!hash) return undefined;
      const template = new SvidDerTemplate({
        version: bytesOf(prototype, version).slice(),
        signatureAlgorithm: bytesOf(prototype, algorithm).slice(),
        issuer: bytesOf(prototype, issuer).slice(),
        subject: bytesOf(prototype, subject).slice(),
        extensions,
        signingKey: signing.key,
        verifyKey: signing.issuerPublicKey ?? createPublicKey(signing.key),
        hash,
      });
      return equalBytes(template.tbs(fields), bytesOf(prototype, tbs)) ? template : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `tbs` can encode these fields (a 16-byte serial, UTCTime validity); otherwise use the library. */
  fits(fields: Pick<SvidFields, 'serial' | 'notBefore' | 'notAfter'>): boolean {
    return (
      fields.serial.length === SERIAL_BYTES &&
      (fields.serial[0] ?? 0) > 0 &&
      (fields.serial[0] ?? 0) < 0x80 &&
      fields.notBefore >= UTC_TIME_START &&
      fields.notAfter < UTC_TIME_LIMIT
    );
  }

  /** The DER TBSCertificate of an SVID with these fields. */
  tbs(fields: SvidFields): Uint8Array {
    const extensions = this.#extensions.map((part) => {
      if (part.kind === 'fixed') return part.der;
      if (part.kind === 'subjectKeyId')
        return tlv(
          DER.SEQUENCE,
          OID_SKI,
          tlv(DER.OCTET_STRING, tlv(DER.OCTET_STRING, subjectKeyIdOfSpki(fields.spki))),
        );
      const names = tlv(DER.SEQUENCE, tlv(DER.URI_NAME, Buffer.from(fields.uri, 'latin1')));
      return tlv(DER.SEQUENCE, OID_SAN, ...(part.critical ? [CRITICAL] : []), tlv(DER.OCTET_STRING, names));
    });
    return tlv(
      DER.SEQUENCE,
      this.#version,
      tlv(DER.INTEGER, fields.serial),
      this.#signatureAlgorithm,
      this.#issuer,
      tlv(DER.SEQUENCE, utcTime(fields.notBefore), utcTime(fields.notAfter)),
      this.#subject,
      fields.spki,
      tlv(0xa3, tlv(DER.SEQUENCE, ...extensions)),
    );
  }

  /**
   * The signed certificate (DER): TBS, the signature algorithm, the CA's signature over the TBS. The signature is
   * verified with the issuer's public key before the certificate is returned: a faulty signature (a key that does
   * not match the intermediate, a signing fault) is never handed out (SigilError INTERNAL).
   */
  sign(tbs: Uint8Array, uri: string): Uint8Array {
    const signature = sign(this.#hash, tbs, this.#signingKey);
    if (!verify(this.#hash, tbs, this.#verifyKey, signature))
      throw templateError(uri, ['does not verify against the issuing CA']);
    return tlv(DER.SEQUENCE, tbs, this.#signatureAlgorithm, tlv(DER.BIT_STRING, Uint8Array.of(0), signature));
  }
}

function extensionPart(der: Uint8Array, ext: Tlv): ExtensionPart {
  const [oid, second] = childrenOf(der, ext);
  if (!oid) throw new RangeError('an extension without an OID');
  const oidBytes = bytesOf(der, oid);
  if (equalBytes(oidBytes, OID_SKI)) return { kind: 'subjectKeyId' };
  if (equalBytes(oidBytes, OID_SAN)) return { kind: 'subjectAltName', critical: second?.tag === 0x01 };
  return { kind: 'fixed', der: bytesOf(der, ext).slice() };
}

export function templateError(uri: string, violations: readonly string[]): SigilError {
  return new SigilError(
    ErrorCode.INTERNAL,
    `the SVID just signed for ${uri} was withheld because it ${violations.join('; ')}`,
  );
}
