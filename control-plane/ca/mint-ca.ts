import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import { randomBytes as nodeRandomBytes, type webcrypto } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { parseTrustDomain } from '../../common/spiffe-id.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { assertNoViolations, caProfileViolations } from './certificate-validator.ts';
import { issuedCertificate, type IssuedCertificate } from './issued-certificate.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { keyIdentifier, signCertificate, subjectKeyIdOf } from './sign-certificate.ts';
import { intermediateTemplate, rootTemplate, type RandomBytes } from './templates.ts';

/** A CA certificate with the key pair that signs for it. Never logged: it holds a private key. */
export interface CaKeyMaterial {
  readonly cert: x509.X509Certificate;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly keyType: KeyType;
  readonly issued: IssuedCertificate;
}

interface MintCommon {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly now: number;
  readonly ttlMs?: number;
  readonly randomBytes?: RandomBytes;
}

const defaultRandomBytes: RandomBytes = (size) => new Uint8Array(nodeRandomBytes(size));

export async function mintRoot(options: MintCommon): Promise<CaKeyMaterial> {
  const keys = await generateKeyPair(options.keyType);
  const template = rootTemplate({
    trustDomain: parseTrustDomain(options.trustDomain),
    now: options.now,
    subjectKeyId: await keyIdentifier(keys.publicKey),
    randomBytes: options.randomBytes ?? defaultRandomBytes,
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
  });
  const cert = await signCertificate({
    template,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingKeyType: options.keyType,
  });
  assertNoViolations(
    await caProfileViolations(cert, { trustDomain: options.trustDomain, issuer: cert }),
    ErrorCode.INTERNAL,
    'the new root CA',
  );
  return { cert, keys, keyType: options.keyType, issued: issuedCertificate(cert, options.keyType) };
}

/** Signs a new intermediate (pathLen 0) under `root`; used by `ca init` and by rotation. */
export async function mintIntermediate(options: MintCommon & { readonly root: CaKeyMaterial }): Promise<CaKeyMaterial> {
  const { root } = options;
  const rootSki = subjectKeyIdOf(root.cert);
  if (rootSki === undefined)
    throw new SigilError(
      ErrorCode.CA_INVALID,
      'the root CA has no subjectKeyIdentifier: it cannot sign an intermediate',
    );
  const keys = await generateKeyPair(options.keyType);
  const template = intermediateTemplate({
    trustDomain: parseTrustDomain(options.trustDomain),
    now: options.now,
    subjectKeyId: await keyIdentifier(keys.publicKey),
    randomBytes: options.randomBytes ?? defaultRandomBytes,
    issuer: {
      subject: root.cert.subject,
      notBefore: root.cert.notBefore.getTime(),
      notAfter: root.cert.notAfter.getTime(),
      subjectKeyId: rootSki,
    },
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
  });
  const cert = await signCertificate({
    template,
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingKeyType: root.keyType,
  });
  const violations = await caProfileViolations(cert, {
    trustDomain: options.trustDomain,
    issuer: root.cert,
    pathLength: 0,
  });
  assertNoViolations(violations, ErrorCode.INTERNAL, 'the new intermediate CA');
  return { cert, keys, keyType: options.keyType, issued: issuedCertificate(cert, options.keyType) };
}

export interface MintCaOptions {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly now: number;
  readonly rootTtlMs?: number;
  readonly intermediateTtlMs?: number;
  readonly randomBytes?: RandomBytes;
}

export interface MintedCa {
  readonly ca: CertificateAuthority;
  readonly root: CaKeyMaterial;
  readonly intermediate: CaKeyMaterial;
}

/** A complete CA in memory (root + intermediate + signer): `ca init` writes it out; tests use it directly. */
export async function mintCa(options: MintCaOptions): Promise<MintedCa> {
  const common = {
    trustDomain: options.trustDomain,
    keyType: options.keyType,
    now: options.now,
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  };
  const root = await mintRoot({ ...common, ...(options.rootTtlMs === undefined ? {} : { ttlMs: options.rootTtlMs }) });
  const intermediate = await mintIntermediate({
    ...common,
    root,
    ...(options.intermediateTtlMs === undefined ? {} : { ttlMs: options.intermediateTtlMs }),
  });
  const ca = await CertificateAuthority.create({
    trustDomain: options.trustDomain,
    intermediate: intermediate.cert,
    intermediateKey: intermediate.keys.privateKey,
    roots: [root.cert],
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  });
  return { ca, root, intermediate };
}
