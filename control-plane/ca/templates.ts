import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { trustDomainId, type SpiffeId } from '../../common/spiffe-id.ts';

/**
 * Certificate templates: pure functions from (identity, keys' identifiers, issuer facts, now, random bytes) to the
 * parameters a certificate is signed with. They decide every profile rule of DESIGN.md section 2; signing and the
 * after-signing check live elsewhere (as SPIRE splits credtemplate / ca / credvalidator).
 */

export type RandomBytes = (size: number) => Uint8Array;

export const DAY_MS = 24 * 60 * 60 * 1000;
export const ROOT_TTL_MS = 10 * 365 * DAY_MS;
export const INTERMEDIATE_TTL_MS = 365 * DAY_MS;
export const LEAF_TTL_MS = 60 * 60 * 1000;
/** Covers clock skew between the CA and relying parties. */
export const BACKDATE_MS = 60 * 1000;
const SERIAL_BYTES = 16;

export interface CertificateTemplate {
  /** Lowercase hex, 16 bytes, exactly as it appears in the DER. */
  readonly serialNumber: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly x509.Extension[];
}

/** What a template needs to know about the certificate that will sign it. */
export interface IssuerFacts {
  readonly subject: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Hex key identifier of the issuer (its SKI), used as the child's AKI. */
  readonly subjectKeyId: string;
}

interface CommonInput {
  readonly now: number;
  readonly ttlMs?: number;
  /** Hex SKI of the subject's public key. */
  readonly subjectKeyId: string;
  readonly randomBytes: RandomBytes;
}

export interface RootInput extends CommonInput {
  readonly trustDomain: string;
}

export interface IntermediateInput extends CommonInput {
  readonly trustDomain: string;
  readonly issuer: IssuerFacts;
}

export interface LeafInput extends CommonInput {
  readonly spiffeId: SpiffeId;
  /** The subject key's type: RSA leaves also get keyEncipherment. */
  readonly keyType: KeyType;
  readonly issuer: IssuerFacts;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/**
 * 16 random bytes with the top bit cleared, so the DER INTEGER is positive without padding. A zero first byte is
 * replaced by 1: the serial is then never zero and always exactly 16 bytes, so its hex is the same in the template,
 * the DER and every parser, without asking for more randomness.
 */
export function randomSerial(randomBytes: RandomBytes): string {
  const bytes = Uint8Array.from(randomBytes(SERIAL_BYTES));
  if (bytes.length !== SERIAL_BYTES)
    throw new RangeError(`randomBytes returned ${bytes.length} bytes, expected ${SERIAL_BYTES}`);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return Buffer.from(bytes).toString('hex');
}

export interface Validity {
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * notBefore = now - 60 s (never before the issuer's notBefore), notAfter = min(now + ttl, issuer notAfter).
 * X.509 times have whole seconds: notBefore rounds up and notAfter down, so the backdate stays within 60 s and the
 * child never outlives its issuer.
 */
export function validity(now: number, ttlMs: number, issuer?: Pick<IssuerFacts, 'notBefore' | 'notAfter'>): Validity {
  if (!Number.isFinite(now)) throw new SigilError(ErrorCode.INVALID_ARGUMENT, `invalid issuance time ${now}`);
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid certificate TTL ${ttlMs} ms: use a positive whole number of milliseconds`,
    );
  }
  const notBefore = Math.ceil(Math.max(now - BACKDATE_MS, issuer?.notBefore ?? -Infinity) / 1000) * 1000;
  const notAfter = Math.floor(Math.min(now + ttlMs, issuer?.notAfter ?? Infinity) / 1000) * 1000;
  if (notAfter > now && notAfter > notBefore) return { notBefore, notAfter };
  if (issuer !== undefined && issuer.notAfter < now + ttlMs) {
    throw new SigilError(
      ErrorCode.CA_EXPIRED,
      `the signing CA expired at ${new Date(issuer.notAfter).toISOString()}: rotate the CA (sigil ca rotate prepare|activate)`,
    );
  }
  throw new SigilError(
    ErrorCode.INVALID_ARGUMENT,
    `a certificate TTL of ${ttlMs} ms is too short: use at least one second`,
  );
}

function caName(role: 'root' | 'intermediate', serial: string): string {
  // The serial makes every CA's name unique, so path building never confuses an old and a new CA.
  return `CN=Sigil ${role} CA ${serial.slice(0, 16)}, O=Sigil`;
}

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

export function rootTemplate(input: RootInput): CertificateTemplate {
  const serialNumber = randomSerial(input.randomBytes);
  const { notBefore, notAfter } = validity(input.now, input.ttlMs ?? ROOT_TTL_MS);
  const name = caName('root', serialNumber);
  return {
    serialNumber,
    subject: name,
    issuer: name,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(input.trustDomain) }]),
    ],
  };
}

export function intermediateTemplate(input: IntermediateInput): CertificateTemplate {
  const serialNumber = randomSerial(input.randomBytes);
  const { notBefore, notAfter } = validity(input.now, input.ttlMs ?? INTERMEDIATE_TTL_MS, input.issuer);
  return {
    serialNumber,
    subject: caName('intermediate', serialNumber),
    issuer: input.issuer.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
      new x509.AuthorityKeyIdentifierExtension(input.issuer.subjectKeyId),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(input.trustDomain) }]),
    ],
  };
}

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The one text form of an IP address (IPv6 compressed, lowercase), as certificate parsers print it back. */
export function canonicalIp(ip: string): string {
  const version = ip.includes('%') ? 0 : isIP(ip);
  if (version === 0)
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  return version === 4 ? ip : new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

export function leafKeyUsages(keyType: KeyType): number {
  return keyType.startsWith('rsa-')
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
}

export function leafTemplate(input: LeafInput): CertificateTemplate {
  if (input.spiffeId.path === '') {
    throw new SigilError(
      ErrorCode.SPIFFE_ID_INVALID,
      `an SVID cannot name the trust domain itself (${input.spiffeId.uri}): give the ID a path`,
    );
  }
  const dnsNames = input.dnsNames ?? [];
  for (const dns of dnsNames) {
    if (!DNS_NAME.test(dns))
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `${JSON.stringify(dns)} is not a DNS name: use letters, digits, "-" and "." only`,
      );
  }
  const ipAddresses = (input.ipAddresses ?? []).map(canonicalIp);
  const serialNumber = randomSerial(input.randomBytes);
  const { notBefore, notAfter } = validity(input.now, input.ttlMs ?? LEAF_TTL_MS, input.issuer);
  return {
    serialNumber,
    subject: 'O=Sigil',
    issuer: input.issuer.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(leafKeyUsages(input.keyType), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
      new x509.AuthorityKeyIdentifierExtension(input.issuer.subjectKeyId),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: input.spiffeId.uri },
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  };
}
