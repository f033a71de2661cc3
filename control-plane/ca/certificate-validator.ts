import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { trustDomainId } from '../../common/spiffe-id.ts';
import { keyTypeOfSpki } from '../../common/key-pair.ts';
import { BACKDATE_MS, canonicalIp, leafKeyUsages } from './templates.ts';
import { PROFILE_RULES, type SigningProfile } from './signing-templates.ts';

/**
 * Checks a certificate after signing, from its DER, against the profile of DESIGN.md section 2 (SPIRE's
 * credvalidator idea): a template bug then surfaces as a refused issuance instead of a bad SVID in the field.
 * Each function returns every violation found; an empty list means the certificate conforms.
 */

const webcrypto = globalThis.crypto;
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);
const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

export interface LeafExpectations {
  readonly spiffeId: string;
  readonly keyType: KeyType;
  readonly issuer: x509.X509Certificate;
  readonly now: number;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface CaExpectations {
  readonly trustDomain: string;
  /** The signer; the certificate itself for a root. */
  readonly issuer: x509.X509Certificate;
  /** 0 for the signing intermediate; undefined for a root (no limit). */
  readonly pathLength?: number;
}

export async function leafProfileViolations(cert: x509.X509Certificate, expected: LeafExpectations): Promise<string[]> {
  const found = await commonViolations(cert, expected.issuer, false);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.critical || bc.ca) found.push('basicConstraints must be present, critical and CA:false');
  checkKeyUsage(cert, leafKeyUsages(expected.keyType), found);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const usages = new Set(eku?.usages.map(String) ?? []);
  if (!usages.has(x509.ExtendedKeyUsage.serverAuth) || !usages.has(x509.ExtendedKeyUsage.clientAuth)) {
    found.push('extendedKeyUsage must hold serverAuth and clientAuth');
  }
  const names = sanNames(cert);
  const uris = names.filter((n) => n.type === 'url').map((n) => n.value);
  if (uris.length !== 1 || uris[0] !== expected.spiffeId)
    found.push(`exactly one URI SAN ${expected.spiffeId} expected, found ${JSON.stringify(uris)}`);
  const dns = names.filter((n) => n.type === 'dns').map((n) => n.value);
  const ips = names.filter((n) => n.type === 'ip').map((n) => n.value);
  if (!sameSet(dns, expected.dnsNames ?? [])) found.push(`DNS SANs ${JSON.stringify(dns)} differ from the request`);
  if (!sameSet(ips, (expected.ipAddresses ?? []).map(canonicalIp)))
    found.push(`IP SANs ${JSON.stringify(ips)} differ from the request`);
  if (names.length !== uris.length + dns.length + ips.length) found.push('only URI, DNS and IP SANs are allowed');
  try {
    if (keyTypeOfSpki(new Uint8Array(cert.publicKey.rawData)) !== expected.keyType)
      found.push(`subject key is not ${expected.keyType}`);
  } catch (err) {
    found.push(`subject key refused: ${(err as Error).message}`);
  }
  const notBefore = cert.notBefore.getTime();
  if (notBefore < expected.now - BACKDATE_MS || notBefore > expected.now)
    found.push('notBefore must lie within 60 s before issuance');
  if (cert.notAfter.getTime() <= expected.now) found.push('notAfter must lie after issuance');
  return found;
}

export interface SigningExpectations {
  readonly profile: SigningProfile;
  /** As checkSigningSubject returned it. */
  readonly subject: string;
  readonly issuer: x509.X509Certificate;
  readonly now: number;
}

/** A code-signing or time-stamping certificate: CA:false, digitalSignature only, the profile's one EKU, no SAN. */
export async function signingProfileViolations(
  cert: x509.X509Certificate,
  expected: SigningExpectations,
): Promise<string[]> {
  const rules = PROFILE_RULES[expected.profile];
  const found = await commonViolations(cert, expected.issuer, false);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.critical || bc.ca) found.push('basicConstraints must be present, critical and CA:false');
  checkKeyUsage(cert, x509.KeyUsageFlags.digitalSignature, found);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const usages = eku?.usages.map(String) ?? [];
  if (usages.length !== 1 || usages[0] !== rules.eku || eku?.critical !== rules.ekuCritical) {
    found.push(`extendedKeyUsage must be exactly ${rules.eku}${rules.ekuCritical ? ', critical' : ''}`);
  }
  if (cert.getExtension(x509.SubjectAlternativeNameExtension)) found.push('a signing certificate carries no SAN');
  if (cert.subject !== expected.subject)
    found.push(`subject ${cert.subject} differs from the request ${expected.subject}`);
  try {
    keyTypeOfSpki(new Uint8Array(cert.publicKey.rawData));
  } catch (err) {
    found.push(`subject key refused: ${(err as Error).message}`);
  }
  const notBefore = cert.notBefore.getTime();
  if (notBefore < expected.now - BACKDATE_MS || notBefore > expected.now)
    found.push('notBefore must lie within 60 s before issuance');
  if (cert.notAfter.getTime() <= expected.now) found.push('notAfter must lie after issuance');
  return found;
}

export async function caProfileViolations(cert: x509.X509Certificate, expected: CaExpectations): Promise<string[]> {
  const selfSigned = cert === expected.issuer || Buffer.from(cert.rawData).equals(Buffer.from(expected.issuer.rawData));
  const found = await commonViolations(cert, expected.issuer, selfSigned);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.critical || !bc.ca) found.push('basicConstraints must be present, critical and CA:true');
  else if (bc.pathLength !== expected.pathLength) found.push(`pathLen must be ${expected.pathLength ?? 'absent'}`);
  checkKeyUsage(cert, CA_USAGES, found);
  const uris = sanNames(cert)
    .filter((n) => n.type === 'url')
    .map((n) => n.value);
  if (uris.length !== 1 || uris[0] !== trustDomainId(expected.trustDomain)) {
    found.push(`exactly one URI SAN ${trustDomainId(expected.trustDomain)} expected, found ${JSON.stringify(uris)}`);
  }
  try {
    keyTypeOfSpki(new Uint8Array(cert.publicKey.rawData));
  } catch (err) {
    found.push(`CA key refused: ${(err as Error).message}`);
  }
  return found;
}

/** Throws `code` with every violation listed when there is any. */
export function assertNoViolations(violations: readonly string[], code: SigilError['code'], what: string): void {
  if (violations.length > 0) {
    throw new SigilError(code, `${what} breaks the certificate profile: ${violations.join('; ')}`, {
      details: { violations: violations.length },
    });
  }
}

async function commonViolations(
  cert: x509.X509Certificate,
  issuer: x509.X509Certificate,
  selfSigned: boolean,
): Promise<string[]> {
  const found: string[] = [];
  if (cert.issuer !== issuer.subject)
    found.push(`issuer name ${cert.issuer} is not the signer's subject ${issuer.subject}`);
  let signatureOk = false;
  try {
    signatureOk = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }, webcrypto);
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) found.push("the signature does not verify with the signer's key");
  const hash = cert.signatureAlgorithm.hash?.name;
  if (hash === undefined || !STRONG_HASHES.has(hash))
    found.push(`signature hash ${hash ?? 'none'} is weaker than SHA-256`);
  if (!/^[1-7][0-9a-f]{31}$/i.test(cert.serialNumber) && !/^0[1-9a-f][0-9a-f]{30}$/i.test(cert.serialNumber)) {
    found.push('serial must be 16 bytes, positive (top bit clear) and non-zero');
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) found.push('subjectKeyIdentifier missing');
  if (!selfSigned) {
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    const issuerSki = issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    if (!aki || aki.keyId === undefined || aki.keyId !== issuerSki)
      found.push("authorityKeyIdentifier must equal the signer's subjectKeyIdentifier");
  }
  if (cert.notAfter.getTime() <= cert.notBefore.getTime()) found.push('notAfter must follow notBefore');
  if (cert.notAfter.getTime() > issuer.notAfter.getTime()) found.push("notAfter lies past the signer's notAfter");
  return found;
}

function checkKeyUsage(cert: x509.X509Certificate, expected: number, found: string[]): void {
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku?.critical || ku.usages !== expected) found.push(`keyUsage must be critical and exactly ${expected}`);
}

function sanNames(cert: x509.X509Certificate): { type: string; value: string }[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.map((n) => ({ type: n.type, value: n.value })) : [];
}

function sameSet(actual: readonly string[], expected: readonly string[]): boolean {
  return actual.length === expected.length && expected.every((v) => actual.includes(v));
}
