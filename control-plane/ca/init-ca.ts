import { mkdir, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { writeNewFile } from './write-new-file.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseKeyType, type KeyType } from '../../common/key-type.ts';
import { adminId, controlPlaneId, isAdminId, parseSpiffeId, parseTrustDomain } from '../../common/spiffe-id.ts';
import {
  CA_FILE_NAMES,
  caFilePaths,
  encodeCaMetadata,
  existingCaEntries,
  writeCaDirectory,
  type CaFiles,
} from './ca-files.ts';
import { certificatePem, type IssuedCertificate } from './issued-certificate.ts';
import { privateKeyPem } from './key-file.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { mintCa } from './mint-ca.ts';
import { DAY_MS, type RandomBytes } from './templates.ts';

export { loadCa } from './load-ca.ts';

export const CONTROL_PLANE_SVID_TTL_MS = 30 * DAY_MS;
export const ADMIN_SVID_TTL_MS = 90 * DAY_MS;
export const DEFAULT_SERVE_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

export interface InitCaOptions {
  readonly dataDir: string;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  /** Encrypts root.key and intermediate.key. Never logged or put in an error. */
  readonly passphrase: string;
  readonly now: number;
  readonly rootTtlMs?: number;
  readonly intermediateTtlMs?: number;
  /** The admin identity minted: spiffe://<td>/sigil/admin/<adminName>. */
  readonly adminName?: string;
  /** DNS names and IP addresses the control plane serves on (SANs of its serving SVID). */
  readonly serveHosts?: readonly string[];
  readonly randomBytes?: RandomBytes;
  /** Writes root.key here (encrypted, mode 0600) instead of into the data dir: the root then signs only offline. */
  readonly offlineRootDir?: string;
}

export interface InitCaResult {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly files: CaFiles;
  /** Where the root key went, when it was kept out of the data dir. */
  readonly offlineRootKey?: string;
  readonly createdAt: number;
  /** Everything minted, for the inventory. The intermediate signed both leaves; the root signed the intermediate. */
  readonly issued: {
    readonly root: IssuedCertificate;
    readonly intermediate: IssuedCertificate;
    readonly controlPlane: IssuedCertificate;
    readonly admin: IssuedCertificate;
  };
}

/**
 * `sigil ca init`: creates the root, the first intermediate, the control plane's serving SVID and the first admin
 * SVID in `dataDir`. Refuses (CA_EXISTS) when a CA is already there, and writes everything or nothing.
 */
export async function initCa(options: InitCaOptions): Promise<InitCaResult> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const keyType = parseKeyType(options.keyType);
  if (typeof options.passphrase !== 'string' || options.passphrase === '') {
    throw new SigilError(
      ErrorCode.CA_PASSPHRASE,
      'no CA passphrase was given: set SIGIL_CA_PASSPHRASE or --passphrase-file',
    );
  }
  const adminSpiffeId = parseSpiffeId(adminId(trustDomain, options.adminName ?? 'default'));
  if (!isAdminId(adminSpiffeId)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `admin name ${JSON.stringify(options.adminName)} must be one path segment`,
    );
  }
  const hosts = options.serveHosts ?? DEFAULT_SERVE_HOSTS;
  const ipAddresses = hosts.filter((h) => isIP(h) !== 0);
  const dnsNames = hosts.filter((h) => isIP(h) === 0);

  await refuseExistingCa(options.dataDir);

  const random = options.randomBytes ? { randomBytes: options.randomBytes } : {};
  const { ca, root, intermediate } = await mintCa({
    trustDomain,
    keyType,
    now: options.now,
    ...random,
    ...(options.rootTtlMs === undefined ? {} : { rootTtlMs: options.rootTtlMs }),
    ...(options.intermediateTtlMs === undefined ? {} : { intermediateTtlMs: options.intermediateTtlMs }),
  });
  const cpKeys = await generateKeyPair(keyType);
  const controlPlane = await ca.issueLeaf({
    spiffeId: controlPlaneId(trustDomain),
    publicKey: cpKeys.publicKey,
    ttlMs: CONTROL_PLANE_SVID_TTL_MS,
    now: options.now,
    dnsNames,
    ipAddresses,
  });
  const adminKeys = await generateKeyPair(keyType);
  const admin = await ca.issueLeaf({
    spiffeId: adminSpiffeId,
    publicKey: adminKeys.publicKey,
    ttlMs: ADMIN_SVID_TTL_MS,
    now: options.now,
  });

  const createdAt = new Date(options.now).toISOString();
  const names = CA_FILE_NAMES;
  const publicFile = 0o644;
  const secretFile = 0o600;
  const rootKeyPem = privateKeyPem(root.keys.privateKey, { passphrase: options.passphrase });
  const offlineRootKey = options.offlineRootDir === undefined ? undefined : join(options.offlineRootDir, 'root.key');
  // The offline copy first: a CA must never exist without its root key somewhere.
  if (offlineRootKey !== undefined) {
    await mkdir(options.offlineRootDir!, { recursive: true, mode: 0o700 });
    await writeNewFile(offlineRootKey, rootKeyPem, secretFile);
  }
  try {
    await writeCaDirectory(
      options.dataDir,
      [
        { name: names.rootCert, data: certificatePem(root.cert), mode: publicFile },
        ...(offlineRootKey === undefined ? [{ name: names.rootKey, data: rootKeyPem, mode: secretFile }] : []),
        { name: names.intermediateCert, data: certificatePem(intermediate.cert), mode: publicFile },
        {
          name: names.intermediateKey,
          data: privateKeyPem(intermediate.keys.privateKey, { passphrase: options.passphrase }),
          mode: secretFile,
        },
        { name: names.bundle, data: ca.bundlePem(), mode: publicFile },
        { name: names.controlPlaneSvid, data: controlPlane.pem + ca.chainPem(), mode: publicFile },
        // Encrypted like the CA keys: with this key and svid.pem anyone who reads the data dir (or a backup) could
        // sign events every sidecar trusts. The running control plane mints its serving key in memory.
        {
          name: names.controlPlaneKey,
          data: privateKeyPem(cpKeys.privateKey, { passphrase: options.passphrase }),
          mode: secretFile,
        },
        { name: names.adminSvid, data: admin.pem + ca.chainPem(), mode: publicFile },
        { name: names.adminKey, data: privateKeyPem(adminKeys.privateKey), mode: secretFile },
        { name: names.adminBundle, data: ca.bundlePem(), mode: publicFile },
        {
          name: names.meta,
          data: encodeCaMetadata({
            version: 1,
            trustDomain,
            keyType,
            createdAt,
            files: names,
            ...(offlineRootKey === undefined ? {} : { rootKeyOffline: true }),
          }),
          mode: publicFile,
        },
      ],
      names.meta,
    );
  } catch (err) {
    if (offlineRootKey !== undefined) await rm(offlineRootKey, { force: true });
    throw err;
  }

  return {
    trustDomain,
    keyType,
    files: caFilePaths(options.dataDir),
    ...(offlineRootKey === undefined ? {} : { offlineRootKey }),
    createdAt: options.now,
    issued: { root: root.issued, intermediate: intermediate.issued, controlPlane, admin },
  };
}

async function refuseExistingCa(dataDir: string): Promise<void> {
  const existing = await existingCaEntries(dataDir);
  if (existing.length > 0) {
    throw new SigilError(
      ErrorCode.CA_EXISTS,
      `${dataDir} already holds a CA (${existing.join(', ')}): nothing was changed; choose another --data-dir, or move the old CA away deliberately`,
    );
  }
}
