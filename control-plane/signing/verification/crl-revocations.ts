import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ErrorCode, isSigilError, SigilError } from '../../../common/errors.ts';
import { validatePath } from '../../../common/path-validator.ts';
import { parseX509Facts } from '../../../common/x509-facts.ts';
import { reasonName } from '../../revocation/reason-codes.ts';
import { normalSerial, type RevocationEntry } from './revocation-rule.ts';
import type { RevocationView } from './verification-rules.ts';

/**
 * Turns CRLs into revocation data a verifier may trust: each CRL must be signed by a CA certificate (among the
 * signature's certificates, the extra ones given, or the roots) that chains to the bundle now and may sign CRLs,
 * and must be current (thisUpdate passed, nextUpdate not). A CRL that fails is refused with the reason
 * (SIGNATURE_INVALID, check `revocation`): a verifier asked to check revocation must not silently skip it.
 */

export interface CrlInput {
  readonly der: Uint8Array;
  /** Where it came from (path or URL), for messages. */
  readonly source: string;
}

/** Clock skew allowed on thisUpdate. */
const SKEW_MS = 60_000;

function refused(source: string, why: string): SigilError {
  return new SigilError(ErrorCode.SIGNATURE_INVALID, `the CRL ${source} ${why}`, {
    details: { check: 'revocation' },
  });
}

export async function revocationsFromCrls(
  crls: readonly CrlInput[],
  candidates: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: number,
): Promise<RevocationView> {
  const entries = new Map<string, RevocationEntry>();
  const sources: string[] = [];
  for (const input of crls) {
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(input.der);
      void crl.entries;
    } catch {
      throw refused(input.source, 'is not a DER or PEM X.509 CRL');
    }
    if (crl.thisUpdate.getTime() > now + SKEW_MS)
      throw refused(input.source, 'is not valid yet (thisUpdate lies ahead)');
    const next = crl.nextUpdate?.getTime();
    if (next === undefined || next < now)
      throw refused(
        input.source,
        `is stale (next update ${next === undefined ? 'not given' : new Date(next).toISOString()}): fetch the current one from the control plane's /crl`,
      );
    await assertTrustedIssuer(crl, input.source, candidates, roots, now);
    sources.push(`${input.source} of ${crl.thisUpdate.toISOString()}`);
    for (const e of crl.entries) {
      const serial = normalSerial(e.serialNumber);
      const revokedAt = e.revocationDate.getTime();
      const entry: RevocationEntry = {
        serial,
        revokedAt,
        effectiveAt: Math.min(e.invalidity?.getTime() ?? revokedAt, revokedAt),
        reason: reasonName(e.reason ?? 0) ?? `reason ${e.reason}`,
      };
      const known = entries.get(serial);
      // Several CRLs may list one serial: the earliest effect wins, which is the safe reading.
      if (!known || entry.effectiveAt < known.effectiveAt) entries.set(serial, entry);
    }
  }
  return { entries, source: `CRL ${sources.join(', ')}` };
}

async function assertTrustedIssuer(
  crl: x509.X509Crl,
  source: string,
  candidates: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  now: number,
): Promise<void> {
  const pool = [...candidates, ...roots];
  for (const der of pool) {
    const cert = new x509.X509Certificate(der);
    if (cert.subject !== crl.issuer) continue;
    let signed = false;
    try {
      signed = await crl.verify({ publicKey: cert }, globalThis.crypto);
    } catch {
      signed = false;
    }
    if (!signed) continue;
    const facts = parseX509Facts(der);
    if (!facts.isCa || (facts.keyUsagePresent && !facts.keyUsage.includes('cRLSign')))
      throw refused(source, `is signed by "${facts.subject}", which may not sign CRLs`);
    const isRoot = roots.some((r) => Buffer.from(r).equals(Buffer.from(der)));
    if (isRoot) return;
    try {
      validatePath({ leaf: der, intermediates: candidates, roots, now });
      return;
    } catch (err) {
      if (!isSigilError(err)) throw err;
      throw refused(source, `is signed by "${facts.subject}", which does not chain to the bundle now: ${err.message}`);
    }
  }
  throw refused(
    source,
    `is signed by "${crl.issuer}", whose certificate is not known here: pass it with --crl-issuer (the control plane's intermediate.pem)`,
  );
}
