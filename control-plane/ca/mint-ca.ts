import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes as nodeRandomBytes, type webcrypto } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { parseTrustDomain } from '../../common/spiffe-id.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { assertNoViolations, caProfileViolations } from './certificate-validator.ts';
import { issuedCertificate, type IssuedCertificate } from './issued-certificate.ts';
import { type CaKeySource, type GeneratedCaKey, softwareKeySource } from '../keys/ca-key-source.ts';
import type { Pkcs11KeyRef } from '../keys/pkcs11-token.ts';
import type { SigningKey } from '../signing/signing-key.ts';
import { keyIdentifier, signCertificate, subjectKeyIdOf } from './sign-certificate.ts';
import { intermediateTemplate, rootTemplate, type RandomBytes } from './templates.ts';

/** A CA certificate with the key that signs for it. Never logged: it may hold a private key. */
export interface CaKeyMaterial {
  readonly cert: x509.X509Certificate;
  readonly signingKey: SigningKey;
  /** Software keys: the pair, to be written to an encrypted key file. Absent for token keys. */
  readonly keys?: webcrypto.CryptoKeyPair;
  /** Token keys: the reference ca.json records. */
  readonly ref?: Pkcs11KeyRef;
  readonly keyType: KeyType;
  readonly issued: IssuedCertificate;
}

interface MintCommon {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly now: number;
  readonly ttlMs?: number;
  readonly randomBytes?: RandomBytes;
  /** Where the new key is made; in memory by default. */
  readonly keySource?: CaKeySource;
}

/** The token label of a new CA key: trust domain, role and time, so an operator listing the token can tell them apart. */
export function caKeyLabel(trustDomain: string, role: 'root' | 'intermediate', now: number): string {
  return `sigil-${trustDomain}-${role}-${new Date(now).toISOString().replace(/[-:]|\.\d+/g, '')}`;
}

const defaultRandomBytes: RandomBytes = (size) => new Uint8Array(nodeRandomBytes(size));

export async function mintRoot(options: MintCommon): Promise<CaKeyMaterial> {
  const source = options.keySource ?? softwareKeySource;
  const key = await source.generate(options.keyType, caKeyLabel(options.trustDomain, 'root', options.now));
  const template = rootTemplate({
    trustDomain: parseTrustDomain(options.trustDomain),
    now: options.now,
    subjectKeyId: await keyIdentifier(key.publicKeySpki),
    randomBytes: options.randomBytes ?? defaultRandomBytes,
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
  });
  const cert = await signCertificate({
    template,
    publicKey: key.publicKeySpki,
    signingKey: key.signingKey,
    signingKeyType: options.keyType,
  });
  assertNoViolations(
    await caProfileViolations(cert, { trustDomain: options.trustDomain, issuer: cert }),
    ErrorCode.INTERNAL,
    'the new root CA',
  );
  return material(cert, key, options.keyType);
}

function material(cert: x509.X509Certificate, key: GeneratedCaKey, keyType: KeyType): CaKeyMaterial {
  return {
    cert,
    signingKey: key.signingKey,
    ...(key.keys ? { keys: key.keys } : {}),
    ...(key.ref ? { ref: key.ref } : {}),
    keyType,
    issued: issuedCertificate(cert, keyType),
  };
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
  const source = options.keySource ?? softwareKeySource;
  const key = await source.generate(options.keyType, caKeyLabel(options.trustDomain, 'intermediate', options.now));
  const template = intermediateTemplate({
    trustDomain: parseTrustDomain(options.trustDomain),
    now: options.now,
    subjectKeyId: await keyIdentifier(key.publicKeySpki),
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
    publicKey: key.publicKeySpki,
    signingKey: root.signingKey,
    signingKeyType: root.keyType,
  });
  const violations = await caProfileViolations(cert, {
    trustDomain: options.trustDomain,
    issuer: root.cert,
    pathLength: 0,
  });
  assertNoViolations(violations, ErrorCode.INTERNAL, 'the new intermediate CA');
  return material(cert, key, options.keyType);
}

export interface MintCaOptions {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly now: number;
  readonly rootTtlMs?: number;
  readonly intermediateTtlMs?: number;
  readonly randomBytes?: RandomBytes;
  /** Where the root and intermediate keys are made (default: in memory); `rootKeySource` overrides for the root. */
  readonly keySource?: CaKeySource;
  readonly rootKeySource?: CaKeySource;
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
  const intermediateSource = options.keySource ?? softwareKeySource;
  const root = await mintRoot({
    ...common,
    keySource: options.rootKeySource ?? intermediateSource,
    ...(options.rootTtlMs === undefined ? {} : { ttlMs: options.rootTtlMs }),
  });
  const intermediate = await mintIntermediate({
    ...common,
    keySource: intermediateSource,
    root,
    ...(options.intermediateTtlMs === undefined ? {} : { ttlMs: options.intermediateTtlMs }),
  });
  const ca = await CertificateAuthority.create({
    trustDomain: options.trustDomain,
    intermediate: intermediate.cert,
    intermediateKey: intermediate.signingKey,
    // A software key minted here is extractable (it is written to a file next): node:crypto's SVID template path.
    ...(intermediate.keys?.privateKey.extractable
      ? { intermediateKeyObject: KeyObject.from(intermediate.keys.privateKey) }
      : {}),
    roots: [root.cert],
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  });
  return { ca, root, intermediate };
}
