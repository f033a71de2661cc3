import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { signingAlgorithm } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { checkSigningSubject } from '../ca/signing-templates.ts';

/** A PKCS#10 request for a code-signing or TSA certificate: the subject names the signer, no extensions. */
export async function makeSigningCsr(options: {
  readonly subject: string;
  readonly keyType: KeyType;
  readonly keys: { readonly publicKey: CryptoKey; readonly privateKey: CryptoKey };
}): Promise<Uint8Array> {
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: checkSigningSubject(options.subject),
      keys: options.keys,
      signingAlgorithm: signingAlgorithm(options.keyType),
    },
    globalThis.crypto,
  );
  return new Uint8Array(request.rawData);
}
