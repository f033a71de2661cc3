import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import { readFile } from 'node:fs/promises';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { caFilePaths, CA_FILE_NAMES, decodeCaMetadata, type CaFiles } from './ca-files.ts';
import { CertificateAuthority } from './certificate-authority.ts';
import { parseCertificatesPem } from './issued-certificate.ts';
import { decodePrivateKeyPem, toCryptoKey } from './key-file.ts';
import { caPhase, requiredRoots } from './ca-rotation-files.ts';

function sameCertificate(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  return Buffer.from(a.rawData).equals(Buffer.from(b.rawData));
}
import type { RandomBytes } from './templates.ts';

export interface LoadCaOptions {
  readonly dataDir: string;
  /** Decrypts intermediate.key. Never logged or put in an error. */
  readonly passphrase: string;
  readonly randomBytes?: RandomBytes;
}

export interface LoadedCa {
  readonly ca: CertificateAuthority;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly files: CaFiles;
  /** Unix milliseconds. */
  readonly createdAt: number;
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
  const keyObject = decodePrivateKeyPem(
    await readCaFile(files.intermediateKey, options.dataDir),
    files.intermediateKey,
    { passphrase: options.passphrase },
  );
  const ca = await CertificateAuthority.create({
    trustDomain: meta.trustDomain,
    intermediate,
    intermediateKey: toCryptoKey(keyObject),
    intermediateKeyObject: keyObject,
    roots,
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  });
  if (ca.keyType !== meta.keyType) {
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${files.intermediateCert} holds a ${ca.keyType} key but ${metaPath} says ${meta.keyType}`,
    );
  }
  return { ca, trustDomain: meta.trustDomain, keyType: meta.keyType, files, createdAt: Date.parse(meta.createdAt) };
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
