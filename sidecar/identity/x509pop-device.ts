import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** The machine's device certificate (from the operator's attestation CA) and its key: the x509pop credential. */
export interface X509PopDevice {
  /** DER, the device certificate first, then any intermediates. */
  readonly chainDer: Uint8Array[];
  /** Never logged; used only to sign the control plane's challenge. */
  readonly key: KeyObject;
}

/**
 * Reads the device certificate chain and key named by the sidecar config (`x509pop.certFile`, `x509pop.keyFile`).
 * Read at every attestation, so a renewed device certificate is picked up without a restart. The key file must not
 * be readable by group or others, as for every private key Sigil handles.
 */
export function readX509PopDevice(files: { certFile: string; keyFile: string }): X509PopDevice {
  const bad = (what: string, cause?: unknown): never => {
    throw new SigilError(ErrorCode.CONFIG_INVALID, `x509pop: ${what}`, cause === undefined ? undefined : { cause });
  };
  let certPem = '';
  try {
    certPem = readFileSync(files.certFile, 'utf8');
  } catch (cause) {
    bad(`cannot read x509pop.certFile ${files.certFile}: ${(cause as Error).message}`, cause);
  }
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) bad(`x509pop.certFile ${files.certFile} holds no PEM certificate`);
  let chainDer: Uint8Array[] = [];
  try {
    chainDer = blocks.map((pem) => new Uint8Array(new X509Certificate(pem).raw));
  } catch (cause) {
    bad(`x509pop.certFile ${files.certFile} holds a certificate that does not parse`, cause);
  }
  let mode = 0;
  try {
    mode = statSync(files.keyFile).mode;
  } catch (cause) {
    bad(`cannot read x509pop.keyFile ${files.keyFile}: ${(cause as Error).message}`, cause);
  }
  if ((mode & 0o077) !== 0)
    bad(
      `x509pop.keyFile ${files.keyFile} is readable by group or others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(readFileSync(files.keyFile));
  } catch (cause) {
    // The parser's message never contains key bytes, but keep it out anyway: the path is what the operator needs.
    bad(`x509pop.keyFile ${files.keyFile} is not an unencrypted PEM private key`, cause);
  }
  return { chainDer, key: key as KeyObject };
}
