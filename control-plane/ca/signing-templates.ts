import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import {
  DAY_MS,
  type CertificateTemplate,
  type IssuerFacts,
  type RandomBytes,
  randomSerial,
  validity,
} from './templates.ts';

/**
 * The two signer profiles beside the SVID: code signing (EKU codeSigning only) and time stamping (EKU
 * timeStamping only, critical, as RFC 3161 2.3 demands). No SPIFFE ID: the subject names the team, pipeline or TSA.
 * digitalSignature is the only key usage, RSA keys included: these keys sign, they never encrypt.
 */

export type SigningProfile = 'code-signing' | 'timestamping';
export const SIGNING_PROFILES: readonly SigningProfile[] = ['code-signing', 'timestamping'];

interface ProfileRules {
  readonly eku: string;
  readonly ekuCritical: boolean;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
}

export const PROFILE_RULES: Readonly<Record<SigningProfile, ProfileRules>> = {
  'code-signing': {
    eku: x509.ExtendedKeyUsage.codeSigning,
    ekuCritical: false,
    defaultTtlMs: 90 * DAY_MS,
    maxTtlMs: 365 * DAY_MS,
  },
  timestamping: {
    eku: x509.ExtendedKeyUsage.timeStamping,
    ekuCritical: true,
    defaultTtlMs: 365 * DAY_MS,
    maxTtlMs: 365 * DAY_MS,
  },
};

export function parseSigningProfile(text: string): SigningProfile {
  if ((SIGNING_PROFILES as readonly string[]).includes(text)) return text as SigningProfile;
  throw new SigilError(
    ErrorCode.INVALID_ARGUMENT,
    `unknown signing profile ${JSON.stringify(text)}: use ${SIGNING_PROFILES.join(' or ')}`,
  );
}

/** The TTL to issue with: the profile's default when none is asked, refused above the profile's maximum. */
export function signingTtl(profile: SigningProfile, requestedMs: number | undefined): number {
  const rules = PROFILE_RULES[profile];
  if (requestedMs === undefined || requestedMs === 0) return rules.defaultTtlMs;
  if (requestedMs > rules.maxTtlMs) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `a ${profile} certificate lives at most ${rules.maxTtlMs / DAY_MS} days: ask for a shorter --ttl`,
    );
  }
  return requestedMs;
}

/** Attribute types a signer's subject may use: names of people, teams and places, nothing that reads as a host. */
const SUBJECT_ATTRIBUTES = new Set(['CN', 'O', 'OU', 'C', 'ST', 'L']);

/**
 * Checks a requested subject (RFC 4514 text) and returns it as @peculiar/x509 prints it: exactly one non-empty CN
 * of at most 64 characters naming the team, pipeline or TSA; only CN, O, OU, C, ST and L.
 */
export function checkSigningSubject(subject: string): string {
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch (cause) {
    throw new SigilError(
      ErrorCode.CSR_SUBJECT,
      `subject ${JSON.stringify(subject)} is not a distinguished name: write it like "CN=release-pipeline,O=Acme"`,
      { cause },
    );
  }
  // toJSON names known attribute types by their short name (CN, O, ...) and others by their OID.
  const attributes = name
    .toJSON()
    .flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type, value }))));
  const other = attributes.find((a) => !SUBJECT_ATTRIBUTES.has(a.type));
  if (other) {
    throw new SigilError(
      ErrorCode.CSR_SUBJECT,
      `subject attribute ${other.type} is not allowed in a signing certificate: use only ${[...SUBJECT_ATTRIBUTES].join(', ')}`,
    );
  }
  const cns = attributes.filter((a) => a.type === 'CN');
  if (cns.length !== 1 || cns[0]!.value.trim() === '' || cns[0]!.value.length > 64) {
    throw new SigilError(
      ErrorCode.CSR_SUBJECT,
      `subject ${JSON.stringify(subject)} needs exactly one CN of 1 to 64 characters naming the team, pipeline or TSA (e.g. CN=release-pipeline,O=Acme)`,
    );
  }
  return name.toString();
}

export interface SigningTemplateInput {
  readonly profile: SigningProfile;
  readonly subject: string;
  readonly now: number;
  readonly ttlMs: number;
  readonly subjectKeyId: string;
  readonly issuer: IssuerFacts;
  readonly randomBytes: RandomBytes;
}

export function signingTemplate(input: SigningTemplateInput): CertificateTemplate {
  const rules = PROFILE_RULES[input.profile];
  const serialNumber = randomSerial(input.randomBytes);
  const { notBefore, notAfter } = validity(input.now, input.ttlMs, input.issuer);
  return {
    serialNumber,
    subject: checkSigningSubject(input.subject),
    issuer: input.issuer.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([rules.eku], rules.ekuCritical),
      new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
      new x509.AuthorityKeyIdentifierExtension(input.issuer.subjectKeyId),
    ],
  };
}
