import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { signingAlgorithm } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { checkSigningSubject } from '../ca/signing-templates.ts';
import { generatorSigning } from '../ca/sign-certificate.ts';
import { importPublicKey } from '../../common/key-pair.ts';
import type { SigningKey } from './signing-key.ts';

/** A PKCS#10 request for a code-signing or TSA certificate: the subject names the signer, no extensions. */
export async function makeSigningCsr(options: {
  readonly subject: string;
  readonly keyType: KeyType;
  /** A key pair in memory, or a key-store key (a PKCS#11 token's) that signs the request where it lives. */
  readonly keys: { readonly publicKey: CryptoKey; readonly privateKey: CryptoKey } | SigningKey;
}): Promise<Uint8Array> {
  const inMemory = 'privateKey' in options.keys;
  const signing = inMemory ? { crypto: globalThis.crypto } : generatorSigning(options.keys as SigningKey);
  const keys = inMemory
    ? (options.keys as { publicKey: CryptoKey; privateKey: CryptoKey })
    : {
        publicKey: await importPublicKey((options.keys as SigningKey).publicKeySpki, options.keyType),
        privateKey: (signing as { signingKey: CryptoKey }).signingKey,
      };
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: checkSigningSubject(options.subject),
      keys,
      signingAlgorithm: signingAlgorithm(options.keyType),
    },
    signing.crypto,
  );
  return new Uint8Array(request.rawData);
}
