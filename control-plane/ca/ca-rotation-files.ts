import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import { readFile } from 'node:fs/promises';
import { replaceFile } from './replace-file.ts';
import { join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import {
  caFilePaths,
  CA_FILE_NAMES,
  decodeCaMetadata,
  writeCaDirectory,
  writeCaMetadata,
  type CaGenerationFiles,
  type CaMetadata,
} from './ca-files.ts';
import { certificatePem, parseCertificatesPem } from './issued-certificate.ts';
import { decodePrivateKeyPem, privateKeyPem, toCryptoKey } from './key-file.ts';
import { mintIntermediate, mintRoot, type CaKeyMaterial } from './mint-ca.ts';
import { issuedCertificate } from './issued-certificate.ts';
import type { RandomBytes } from './templates.ts';

/**
 * The on-disk half of staged CA rotation. ca.json is the commit point of every step: new files are written first
 * (never over existing ones), then ca.json is replaced in one rename, so a crash leaves the old or the new state.
 * The bundle files are derived: `reconcileBundle` puts back any root the committed state needs.
 */

export type CaPhase = 'stable' | 'prepared' | 'activated';

export function caPhase(meta: CaMetadata): CaPhase {
  if (meta.next) return 'prepared';
  if (meta.previous) return 'activated';
  return 'stable';
}

export interface CaDirOptions {
  readonly dataDir: string;
  /** Encrypts and decrypts the CA keys. Never logged or put in an error. */
  readonly passphrase: string;
  readonly now: number;
  readonly randomBytes?: RandomBytes;
}

export async function readCaMetadata(dataDir: string): Promise<CaMetadata> {
  const path = caFilePaths(dataDir).meta;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new SigilError(
      ErrorCode.CA_MISSING,
      `${dataDir} holds no CA: run sigil ca init --data-dir ${dataDir} first`,
      { cause: err },
    );
  }
  return decodeCaMetadata(text, path);
}

async function readOneCertificate(dataDir: string, name: string): Promise<x509.X509Certificate> {
  const [cert] = parseCertificatesPem(await readFile(join(dataDir, name), 'utf8'));
  if (!cert)
    throw new SigilError(ErrorCode.CA_INVALID, `${join(dataDir, name)} holds no certificate: restore it from a backup`);
  return cert;
}

function refuseState(meta: CaMetadata, allowed: CaPhase, step: string): void {
  const phase = caPhase(meta);
  if (phase === allowed) return;
  const next: Record<CaPhase, string> = {
    stable: 'start with sigil ca rotate prepare',
    prepared: 'a rotation is prepared: run sigil ca rotate activate next',
    activated: 'a rotation is activated: run sigil ca rotate retire to finish it first',
  };
  throw new SigilError(ErrorCode.CA_ROTATION_STATE, `cannot ${step}: the CA is ${phase}; ${next[phase]}`);
}

export interface PrepareOptions extends CaDirOptions {
  /** Keep the current root; only a new intermediate. */
  readonly intermediateOnly: boolean;
  /** The current root's key (encrypted PKCS#8 PEM) when it is offline; only for intermediateOnly. */
  readonly rootKeyPem?: string;
  readonly rootTtlMs?: number;
  readonly intermediateTtlMs?: number;
}

export interface PrepareResult {
  readonly meta: CaMetadata;
  readonly root: x509.X509Certificate;
  readonly intermediate: x509.X509Certificate;
  readonly issued: { readonly root?: CaKeyMaterial['issued']; readonly intermediate: CaKeyMaterial['issued'] };
  /** The new root's key, encrypted, when the current root is offline: the caller keeps it; nothing here does. */
  readonly newRootKeyPem?: string;
}

async function currentRootKey(options: PrepareOptions, meta: CaMetadata): Promise<CaKeyMaterial> {
  const cert = await readOneCertificate(options.dataDir, meta.files.rootCert);
  let pem = options.rootKeyPem;
  if (pem === undefined || pem === '') {
    if (meta.rootKeyOffline) {
      throw new SigilError(
        ErrorCode.CA_ROTATION_STATE,
        'the root key is offline: pass it with --root-key FILE to sign the new intermediate (it is used in memory only)',
      );
    }
    pem = await readFile(join(options.dataDir, meta.files.rootKey), 'utf8');
  }
  const privateKey = toCryptoKey(decodePrivateKeyPem(pem, 'the root key', { passphrase: options.passphrase }));
  const publicKey = await cert.publicKey.export(globalThis.crypto);
  return {
    cert,
    keys: { privateKey, publicKey },
    keyType: meta.keyType,
    issued: issuedCertificate(cert, meta.keyType),
  };
}

/** Stages the next CA: a new root (unless intermediateOnly) and a new intermediate, written beside the current one. */
export async function prepareCaFiles(options: PrepareOptions): Promise<PrepareResult> {
  const meta = await readCaMetadata(options.dataDir);
  refuseState(meta, 'stable', 'prepare a rotation');
  const common = {
    trustDomain: meta.trustDomain,
    keyType: meta.keyType,
    now: options.now,
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  };
  const root = options.intermediateOnly
    ? await currentRootKey(options, meta)
    : await mintRoot({ ...common, ...(options.rootTtlMs === undefined ? {} : { ttlMs: options.rootTtlMs }) });
  const intermediate = await mintIntermediate({
    ...common,
    root,
    ...(options.intermediateTtlMs === undefined ? {} : { ttlMs: options.intermediateTtlMs }),
  });

  const generation = `ca-${new Date(options.now).toISOString().replace(/[-:.]/g, '')}`;
  const offline = meta.rootKeyOffline === true;
  const rootKeyPem = options.intermediateOnly
    ? undefined
    : privateKeyPem(root.keys.privateKey, { passphrase: options.passphrase });
  const files: CaGenerationFiles = options.intermediateOnly
    ? {
        rootCert: meta.files.rootCert,
        rootKey: meta.files.rootKey,
        intermediateCert: `${generation}/intermediate.pem`,
        intermediateKey: `${generation}/intermediate.key`,
      }
    : {
        rootCert: `${generation}/root.pem`,
        rootKey: `${generation}/root.key`,
        intermediateCert: `${generation}/intermediate.pem`,
        intermediateKey: `${generation}/intermediate.key`,
      };
  await writeCaDirectory(
    options.dataDir,
    [
      ...(options.intermediateOnly ? [] : [{ name: files.rootCert, data: certificatePem(root.cert), mode: 0o644 }]),
      ...(rootKeyPem !== undefined && !offline ? [{ name: files.rootKey, data: rootKeyPem, mode: 0o600 }] : []),
      { name: files.intermediateCert, data: certificatePem(intermediate.cert), mode: 0o644 },
      {
        name: files.intermediateKey,
        data: privateKeyPem(intermediate.keys.privateKey, { passphrase: options.passphrase }),
        mode: 0o600,
      },
    ],
    CA_FILE_NAMES.meta,
  );
  const next = {
    ...files,
    preparedAt: new Date(options.now).toISOString(),
    intermediateOnly: options.intermediateOnly,
    rootKeyOffline: offline,
  };
  const updated: CaMetadata = { ...meta, next };
  await writeCaMetadata(caFilePaths(options.dataDir).meta, updated);
  return {
    meta: updated,
    root: root.cert,
    intermediate: intermediate.cert,
    issued: { ...(options.intermediateOnly ? {} : { root: root.issued }), intermediate: intermediate.issued },
    ...(rootKeyPem !== undefined && offline ? { newRootKeyPem: rootKeyPem } : {}),
  };
}

/** Makes the prepared CA the one in force; the replaced one is remembered until retire. */
export async function activateCaFiles(options: Pick<CaDirOptions, 'dataDir' | 'now'>): Promise<CaMetadata> {
  const meta = await readCaMetadata(options.dataDir);
  refuseState(meta, 'prepared', 'activate');
  const next = meta.next!;
  const updated: CaMetadata = {
    version: meta.version,
    trustDomain: meta.trustDomain,
    keyType: meta.keyType,
    createdAt: meta.createdAt,
    files: {
      ...meta.files,
      rootCert: next.rootCert,
      rootKey: next.rootKey,
      intermediateCert: next.intermediateCert,
      intermediateKey: next.intermediateKey,
    },
    ...(next.rootKeyOffline ? { rootKeyOffline: true } : {}),
    previous: {
      rootCert: meta.files.rootCert,
      intermediateCert: meta.files.intermediateCert,
      activatedAt: new Date(options.now).toISOString(),
      intermediateOnly: next.intermediateOnly,
    },
  };
  await writeCaMetadata(caFilePaths(options.dataDir).meta, updated);
  return updated;
}

/**
 * Forgets the previous CA. The bundle (written before ca.json, see reconcileBundle) loses the previous root unless
 * the rotation kept the root. The caller checks for blockers first.
 */
export async function retireCaFiles(
  options: Pick<CaDirOptions, 'dataDir'>,
  bundlePemWithout: (root: x509.X509Certificate) => string,
): Promise<{ readonly meta: CaMetadata; readonly removedRoot?: x509.X509Certificate }> {
  const meta = await readCaMetadata(options.dataDir);
  refuseState(meta, 'activated', 'retire');
  const previous = meta.previous!;
  const oldRoot = previous.intermediateOnly ? undefined : await readOneCertificate(options.dataDir, previous.rootCert);
  if (oldRoot) await writeBundleFiles(options.dataDir, meta, bundlePemWithout(oldRoot));
  const { previous: _dropped, ...updated } = meta;
  await writeCaMetadata(caFilePaths(options.dataDir).meta, updated);
  await publishCaInForce(options.dataDir, updated);
  return { meta: updated, ...(oldRoot ? { removedRoot: oldRoot } : {}) };
}

/**
 * The top-level root.pem and intermediate.pem are what operators (and the README's `openssl verify` line) reach for:
 * once nothing refers to the first generation's copies any more (after retire), they become copies of the CA in
 * force. Each replaced in one rename; a generation's own files stay where ca.json says.
 */
export async function publishCaInForce(dataDir: string, meta: CaMetadata): Promise<void> {
  const referenced = new Set([
    ...Object.values(meta.files),
    ...(meta.next ? Object.values(meta.next) : []),
    ...(meta.previous ? [meta.previous.rootCert, meta.previous.intermediateCert] : []),
  ]);
  for (const [top, inForce] of [
    [CA_FILE_NAMES.rootCert, meta.files.rootCert],
    [CA_FILE_NAMES.intermediateCert, meta.files.intermediateCert],
  ] as const) {
    if (inForce === top || referenced.has(top)) continue;
    await replaceFile(join(dataDir, top), await readFile(join(dataDir, inForce), 'utf8'), 0o644);
  }
}

/** The roots the committed state needs in the bundle: the current one, and the next or previous one. */
export async function requiredRoots(dataDir: string, meta: CaMetadata): Promise<x509.X509Certificate[]> {
  const names = [
    meta.files.rootCert,
    ...(meta.next ? [meta.next.rootCert] : []),
    ...(meta.previous ? [meta.previous.rootCert] : []),
  ];
  return Promise.all([...new Set(names)].map((name) => readOneCertificate(dataDir, name)));
}

/** bundle.pem (for sidecars) and admin/bundle.pem (for the CLI), each replaced in one rename. */
export async function writeBundleFiles(dataDir: string, meta: CaMetadata, pem: string): Promise<void> {
  const paths = caFilePaths(dataDir, { ...CA_FILE_NAMES, ...meta.files });
  for (const path of [paths.bundle, paths.adminBundle]) await replaceFile(path, pem, 0o644);
}
