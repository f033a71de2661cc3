import { EKU_OIDS, EXT_OIDS, type X509Facts } from '../../common/x509-facts.ts';

/**
 * What a certificate must say to sign code or time-stamps, as pure rules over decoded facts. Each returns the
 * problem in a sentence, or undefined when the certificate is fit for the purpose.
 */

function leafProblem(f: X509Facts, what: string): string | undefined {
  if (f.isCa) return `${what} is a CA certificate, not a signer`;
  if (f.keyUsagePresent && !f.keyUsage.includes('digitalSignature') && !f.keyUsage.includes('nonRepudiation')) {
    return `${what} lacks the digitalSignature key usage`;
  }
  return undefined;
}

/** A code-signing certificate carries the codeSigning EKU (an SVID or a TLS certificate does not). */
export function codeSigningProblem(f: X509Facts): string | undefined {
  const what = `certificate "${f.subject}" (serial ${f.serial})`;
  if (!f.extKeyUsagePresent || !f.extKeyUsage.includes(EKU_OIDS.codeSigning)) {
    const has = f.extKeyUsageNames.length > 0 ? f.extKeyUsageNames.join(', ') : 'no extended key usage';
    return `${what} is not a code-signing certificate (it has ${has}; codeSigning is required): use one from sigil signing cert`;
  }
  return leafProblem(f, what);
}

/**
 * RFC 3161 section 2.3: the TSA's certificate holds exactly one extended key usage, timeStamping, and the
 * extension is critical.
 */
export function timeStampingProblem(f: X509Facts): string | undefined {
  const what = `TSA certificate "${f.subject}" (serial ${f.serial})`;
  const eku = f.extensions.find((e) => e.oid === EXT_OIDS.extKeyUsage);
  if (!eku || f.extKeyUsage.length !== 1 || f.extKeyUsage[0] !== EKU_OIDS.timeStamping) {
    return `${what} must have timeStamping as its only extended key usage (RFC 3161 2.3)`;
  }
  if (!eku.critical) return `${what} must mark its timeStamping extended key usage critical (RFC 3161 2.3)`;
  return leafProblem(f, what);
}
