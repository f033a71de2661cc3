import { readFile } from 'node:fs/promises';
import { classifyPublicKey } from '../../common/key-type.ts';
import { trustDomainId } from '../../common/spiffe-id.ts';
import { pemCertificatesToDer } from '../../common/trust-bundle.ts';
import { parseX509Facts, type X509Facts } from '../../common/x509-facts.ts';
import type { CaFiles } from '../ca/ca-files.ts';
import type { IssuedCertificate } from '../ca/issued-certificate.ts';
import type { CertificateKind, CertificateRecord, Store } from '../store/store.ts';

/** An inventory row for a certificate the CA issued, from what issuance returned. */
export function recordOf(
  issued: IssuedCertificate,
  spiffeId: string,
  kind: CertificateKind,
  issuerSerial: string | null,
  issuedAt: number,
): CertificateRecord {
  return {
    serial: issued.serial,
    spiffeId,
    kind,
    keyType: issued.keyType,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    issuerSerial,
    status: 'active',
    issuedAt,
    publicKeySha256: issued.publicKeySha256,
    der: issued.der,
  };
}

function recordFromFacts(
  facts: X509Facts,
  kind: CertificateKind,
  issuerSerial: string | null,
  trustDomain: string,
): CertificateRecord {
  return {
    serial: facts.serial,
    spiffeId: facts.uriSans[0] ?? trustDomainId(trustDomain),
    kind,
    keyType: classifyPublicKey(facts.publicKey),
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    issuerSerial,
    status: 'active',
    issuedAt: facts.notBefore,
    publicKeySha256: facts.spkiSha256,
    der: facts.der,
  };
}

/**
 * Makes sure the CA's own certificates (`ca init` writes them before any store exists) are in the inventory.
 * Idempotent: present rows are left alone, so a restart changes nothing.
 */
export async function recordCaFiles(store: Store, files: CaFiles, trustDomain: string): Promise<void> {
  const first = async (path: string) => {
    const der = pemCertificatesToDer(await readFile(path, 'utf8'))[0];
    return der ? parseX509Facts(der) : undefined;
  };
  const root = await first(files.rootCert);
  const intermediate = await first(files.intermediateCert);
  const rows: CertificateRecord[] = [];
  if (root) rows.push(recordFromFacts(root, 'root', null, trustDomain));
  if (intermediate) rows.push(recordFromFacts(intermediate, 'intermediate', root?.serial ?? null, trustDomain));
  for (const [path, kind] of [
    [files.controlPlaneSvid, 'control-plane'],
    [files.adminSvid, 'admin'],
  ] as const) {
    const leaf = await first(path).catch(() => undefined);
    if (leaf) rows.push(recordFromFacts(leaf, kind, intermediate?.serial ?? null, trustDomain));
  }
  for (const row of rows) {
    if (!(await store.getCertificate(row.serial))) await store.insertCertificate(row);
  }
}
