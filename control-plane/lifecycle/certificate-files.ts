import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { type CertificateDescription, describeCertificate } from './inventory-entry.ts';

/**
 * Reads the certificates of one file to import: PEM (one or several), DER, or PKCS#12 (with or without a password).
 * Never reads a key: a PEM private key makes the whole file refused, and PKCS#12 key bags are skipped undecrypted.
 * Every error names the file and says what to do; nothing is returned for a file with any bad part.
 */

export interface ReadCertificate {
  readonly der: Uint8Array;
  readonly description: CertificateDescription;
}

const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const X509_CERT = '1.2.840.113549.1.9.22.1';
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

const refuse = (file: string, message: string, cause?: unknown) =>
  new SigilError(ErrorCode.CERTIFICATE_INPUT, `${file}: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { file },
  });

export async function readCertificateFile(
  file: string,
  bytes: Uint8Array,
  password?: string,
): Promise<ReadCertificate[]> {
  const text = Buffer.from(bytes).toString('latin1');
  const ders = text.includes('-----BEGIN ')
    ? pemCertificates(file, text)
    : await binaryCertificates(file, bytes, password);
  return ders.map((der, i) => {
    try {
      return { der, description: describeCertificate(der) };
    } catch (cause) {
      throw refuse(file, `certificate ${i + 1} could not be decoded: supply X.509 certificates`, cause);
    }
  });
}

function pemCertificates(file: string, text: string): Uint8Array[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.some((b) => b[1]?.endsWith('PRIVATE KEY')))
    throw refuse(
      file,
      'holds a private key: Sigil never reads or stores keys; import a file with the certificates only (e.g. openssl x509 -in FILE)',
    );
  const begins = (text.match(/-----BEGIN /g) ?? []).length;
  if (begins !== blocks.length)
    throw refuse(file, 'a PEM block is truncated (BEGIN without END): supply the whole file');
  const certs = blocks.filter((b) => b[1] === 'CERTIFICATE' || b[1] === 'TRUSTED CERTIFICATE');
  if (certs.length === 0) throw refuse(file, 'holds no CERTIFICATE block: supply PEM certificates');
  return certs.map((b) => new Uint8Array(Buffer.from((b[2] ?? '').replace(/\s+/g, ''), 'base64')));
}

async function binaryCertificates(file: string, bytes: Uint8Array, password?: string): Promise<Uint8Array[]> {
  const asn = asn1js.fromBER(bytes);
  if (asn.offset === -1 || !(asn.result instanceof asn1js.Sequence))
    throw refuse(file, 'is neither PEM, DER nor PKCS#12: supply a certificate file');
  const items = asn.result.valueBlock.value;
  // A certificate is SEQUENCE { tbs SEQUENCE, alg SEQUENCE, sig BIT STRING }; a PFX starts with INTEGER 3.
  if (items[0] instanceof asn1js.Integer) return pkcs12Certificates(file, bytes, password);
  return [new Uint8Array(bytes)];
}

async function pkcs12Certificates(file: string, bytes: Uint8Array, password?: string): Promise<Uint8Array[]> {
  const secret = new TextEncoder().encode(password ?? '').buffer as ArrayBuffer;
  let pfx: pkijs.PFX;
  try {
    pfx = pkijs.PFX.fromBER(bytes);
  } catch (cause) {
    throw refuse(file, 'is not a readable PKCS#12 file', cause);
  }
  try {
    // A file without a MAC has nothing to check; the certificates are public data either way.
    await pfx.parseInternalValues({ password: secret, checkIntegrity: pfx.macData !== undefined });
    const safe = pfx.parsedValue?.authenticatedSafe as pkijs.AuthenticatedSafe | undefined;
    if (!safe) throw new Error('no authenticated safe');
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: secret })) });
    const contents = (safe.parsedValue?.safeContents ?? []) as { value: pkijs.SafeContents }[];
    const bags: pkijs.SafeBag[] = contents.flatMap((c) => c.value.safeBags);
    const certs = bags
      .filter((b) => b.bagId === CERT_BAG)
      .map((b) => b.bagValue as pkijs.CertBag)
      .filter((c: pkijs.CertBag) => c.certId === X509_CERT)
      .map((c: pkijs.CertBag) => new Uint8Array((c.parsedValue as pkijs.Certificate).toSchema().toBER(false)));
    if (certs.length === 0) throw refuse(file, 'the PKCS#12 file holds no certificate');
    return certs;
  } catch (cause) {
    if (cause instanceof SigilError) throw cause;
    throw refuse(
      file,
      password === undefined
        ? 'the PKCS#12 file is password-protected: give the password with --password-file FILE or --password-env NAME'
        : 'the PKCS#12 password is wrong or the file is damaged',
      cause,
    );
  }
}
