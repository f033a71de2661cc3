import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { caFilePaths, CA_FILE_NAMES, decodeCaMetadata, type CaFiles } from './ca-files.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { parseCertificatesPem } from './issued-certificate.ts';
import { decodePrivateKeyPem, toCryptoKey } from './key-file.ts';
import { caPhase, requiredRoots } from './ca-rotation-files.ts';
import type { Pkcs11Tokens } from '../keys/pkcs11-tokens.ts';
import type { CaSigningKey } from './sign-certificate.ts';
import type { CaKeyStoreMetadata, CaMetadata } from './ca-files.ts';

function sameCertificate(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  return Buffer.from(a.rawData).equals(Buffer.from(b.rawData));
}
import type { RandomBytes } from './templates.ts';

export interface LoadCaOptions {
  readonly dataDir: string;
  /** Decrypts intermediate.key. Never logged or put in an error. */
  readonly passphrase: string;
  /** Opens the token when ca.json says the keys are in PKCS#11; without it such a CA is a PKCS11_PIN error. */
  readonly tokens?: Pkcs11Tokens;
  readonly randomBytes?: RandomBytes;
}

export interface LoadedCa {
  readonly ca: CertificateAuthority;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly files: CaFiles;
  /** Unix milliseconds. */
  readonly createdAt: number;
  /** Where the keys live when in a PKCS#11 token (ca.json keyStore); absent for encrypted key files. */
  readonly keyStore?: CaKeyStoreMetadata;
}

/**
 * Reads a CA written by `initCa` and checks it (profile, chain to the bundle, key matches the certificate).
 * CA_MISSING when there is no CA, CA_PASSPHRASE when the passphrase does not open the key, CA_INVALID otherwise.
 */
export async function loadCa(options: LoadCaOptions): Promise<LoadedCa> {
  const metaPath = caFilePaths(options.dataDir).meta;
  let metaText: string;
  try {
    metaText = await readFile(metaPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new SigilError(
      ErrorCode.CA_MISSING,
      `${options.dataDir} holds no CA: run sigil ca init --data-dir ${options.dataDir} first`,
      { cause: err },
    );
  }
  const meta = decodeCaMetadata(metaText, metaPath);
  const files = caFilePaths(options.dataDir, { ...CA_FILE_NAMES, ...meta.files });
  const bundleRoots = await readCertificates(files.bundle, options.dataDir);
  // During a rotation, a step committed in ca.json may not have reached bundle.pem (a crash in between): the roots
  // the rotation needs count too. Outside one, a bundle without the CA's root stays an error.
  const rotating = caPhase(meta) !== 'stable';
  const needed = rotating
    ? (await requiredRoots(options.dataDir, meta)).filter((r) => !bundleRoots.some((b) => sameCertificate(b, r)))
    : [];
  const roots = [...bundleRoots, ...needed];
  const [intermediate, ...extra] = await readCertificates(files.intermediateCert, options.dataDir);
  if (intermediate === undefined || extra.length > 0) {
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${files.intermediateCert} must hold exactly one certificate: restore it from a backup`,
    );
  }
  const ca = await CertificateAuthority.create({
    trustDomain: meta.trustDomain,
    intermediate,
    ...(await intermediateKey(options, meta, files, new Uint8Array(intermediate.publicKey.rawData))),
    roots,
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  });
  if (ca.keyType !== meta.keyType) {
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${files.intermediateCert} holds a ${ca.keyType} key but ${metaPath} says ${meta.keyType}`,
    );
  }
  return {
    ca,
    trustDomain: meta.trustDomain,
    keyType: meta.keyType,
    files,
    createdAt: Date.parse(meta.createdAt),
    ...(meta.keyStore ? { keyStore: meta.keyStore } : {}),
  };
}

/**
 * The intermediate's key: decrypted from its file (also as a KeyObject, for node:crypto's fast SVID path), or found
 * in the token ca.json names (it never leaves it).
 */
async function intermediateKey(
  options: LoadCaOptions,
  meta: CaMetadata,
  files: CaFiles,
  spki: Uint8Array,
): Promise<{ intermediateKey: CaSigningKey; intermediateKeyObject?: KeyObject }> {
  const store = meta.keyStore;
  if (!store) {
    const pem = await readCaFile(files.intermediateKey, options.dataDir);
    const keyObject = decodePrivateKeyPem(pem, files.intermediateKey, { passphrase: options.passphrase });
    return { intermediateKey: toCryptoKey(keyObject), intermediateKeyObject: keyObject };
  }
  if (!meta.keys)
    throw new SigilError(ErrorCode.CA_INVALID, `${files.meta} names no keys in the token: restore it from a backup`);
  if (!options.tokens) {
    throw new SigilError(
      ErrorCode.PKCS11_PIN,
      'the CA keys are in a PKCS#11 token: set SIGIL_PKCS11_PIN or SIGIL_PKCS11_PIN_FILE for the control plane',
    );
  }
  const token = await options.tokens.open(store.module, store.token);
  return { intermediateKey: await token.openKey(meta.keys.intermediate, spki) };
}

async function readCaFile(path: string, dataDir: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${path} is missing, so the CA in ${dataDir} is incomplete: restore it from a backup`,
      { cause: err },
    );
  }
}

async function readCertificates(path: string, dataDir: string): Promise<x509.X509Certificate[]> {
  const text = await readCaFile(path, dataDir);
  let certs: x509.X509Certificate[];
  try {
    certs = parseCertificatesPem(text);
  } catch (err) {
    throw new SigilError(ErrorCode.CA_INVALID, `${path} holds an unreadable certificate: restore it from a backup`, {
      cause: err,
    });
  }
  if (certs.length === 0)
    throw new SigilError(ErrorCode.CA_INVALID, `${path} holds no certificate: restore it from a backup`);
  return certs;
}
