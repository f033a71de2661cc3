import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ErrorCode, SigilError } from './errors.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';

/** A signing key pair as WebCrypto hands it out. */
export interface SigningKeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
}

export interface MakeCsrOptions {
  readonly spiffeId: SpiffeId | string;
  readonly keys: SigningKeyPair;
}

/**
 * Builds the DER PKCS#10 request a sidecar or the CLI sends to the control plane: empty subject, the SPIFFE ID as
 * the only (URI) SAN, self-signed with the key being certified. The private key never leaves the caller.
 */
export async function makeCsr(options: MakeCsrOptions): Promise<Uint8Array> {
  const id = typeof options.spiffeId === 'string' ? parseSpiffeId(options.spiffeId) : options.spiffeId;
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys: { publicKey: options.keys.publicKey, privateKey: options.keys.privateKey },
      signingAlgorithm: csrSigningAlgorithm(options.keys.privateKey),
      // An empty subject makes the SAN the only name, so it is marked critical as RFC 5280 asks.
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }], true)],
    },
    globalThis.crypto,
  );
  return new Uint8Array(request.rawData);
}

/** ECDSA hashes follow the curve (SHA-384 for P-384); RSA keys carry their hash in the key itself. */
function csrSigningAlgorithm(key: CryptoKey): { name: string; hash?: string } {
  const algorithm = key.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name === 'ECDSA')
    return { name: 'ECDSA', hash: algorithm.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' };
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') return { name: algorithm.name };
  throw new SigilError(
    ErrorCode.KEY_UNSUPPORTED,
    `cannot sign a CSR with a ${algorithm.name} key: use ECDSA P-256/P-384 or RSA 2048/3072/4096`,
  );
}
