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
  type CaKeyStoreMetadata,
} from './ca-files.ts';
import { tokenKeySource } from '../keys/ca-key-source.ts';
import type { Pkcs11Tokens } from '../keys/pkcs11-tokens.ts';
import { certificatePem, type IssuedCertificate } from './issued-certificate.ts';
import { privateKeyPem } from './key-file.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { type MintedCa, mintCa } from './mint-ca.ts';
import { DAY_MS, type RandomBytes } from './templates.ts';

export { loadCa } from './load-ca.ts';

export const CONTROL_PLANE_SVID_TTL_MS = 30 * DAY_MS;
export const ADMIN_SVID_TTL_MS = 90 * DAY_MS;
export const DEFAULT_SERVE_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

export interface InitCaOptions {
  readonly dataDir: string;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  /** Encrypts root.key and intermediate.key (file key store only). Never logged or put in an error. */
  readonly passphrase?: string;
  /**
   * Keys in a PKCS#11 token instead of files: generated there (non-extractable), ca.json records references only.
   * `tokens` opens the token(s) with the PIN.
   */
  readonly keyStore?: CaKeyStoreMetadata & { readonly tokens: Pkcs11Tokens };
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
  const store = options.keyStore;
  if (store && options.offlineRootDir !== undefined) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'an offline root with a PKCS#11 key store lives on its own token: pass --pkcs11-root-token LABEL instead of --offline-root-dir',
    );
  }
  if (!store && (typeof options.passphrase !== 'string' || options.passphrase === '')) {
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
  const sources = store
    ? {
        keySource: tokenKeySource(await store.tokens.open(store.module, store.token)),
        rootKeySource: tokenKeySource(await store.tokens.open(store.module, store.rootToken ?? store.token, 'root')),
      }
    : {};
  const minted = await mintCa({
    trustDomain,
    keyType,
    now: options.now,
    ...random,
    ...sources,
    ...(options.rootTtlMs === undefined ? {} : { rootTtlMs: options.rootTtlMs }),
    ...(options.intermediateTtlMs === undefined ? {} : { intermediateTtlMs: options.intermediateTtlMs }),
  });
  try {
    return await writeNewCa(options, { trustDomain, keyType, adminSpiffeId, dnsNames, ipAddresses }, minted);
  } catch (err) {
    // Everything or nothing: keys generated in a token for a CA that was not written are removed again.
    if (store) {
      for (const [material, location] of [
        [minted.root, store.rootToken ?? store.token],
        [minted.intermediate, store.token],
      ] as const) {
        if (!material.ref) continue;
        const token = await store.tokens.open(store.module, location, material === minted.root ? 'root' : 'ca');
        await token.destroyKey(material.ref).catch(() => undefined);
      }
    }
    throw err;
  }
}

interface CaFacts {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly adminSpiffeId: ReturnType<typeof parseSpiffeId>;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

async function writeNewCa(options: InitCaOptions, facts: CaFacts, minted: MintedCa): Promise<InitCaResult> {
  const { trustDomain, keyType, adminSpiffeId, dnsNames, ipAddresses } = facts;
  const { ca, root, intermediate } = minted;
  const store = options.keyStore;
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
  const rootKeyPem = root.keys ? privateKeyPem(root.keys.privateKey, { passphrase: options.passphrase }) : undefined;
  const offlineRootKey = options.offlineRootDir === undefined ? undefined : join(options.offlineRootDir, 'root.key');
  // The offline copy first: a CA must never exist without its root key somewhere.
  if (offlineRootKey !== undefined && rootKeyPem !== undefined) {
    await mkdir(options.offlineRootDir!, { recursive: true, mode: 0o700 });
    await writeNewFile(offlineRootKey, rootKeyPem, secretFile);
  }
  try {
    await writeCaDirectory(
      options.dataDir,
      [
        { name: names.rootCert, data: certificatePem(root.cert), mode: publicFile },
        ...(offlineRootKey === undefined && rootKeyPem !== undefined
          ? [{ name: names.rootKey, data: rootKeyPem, mode: secretFile }]
          : []),
        { name: names.intermediateCert, data: certificatePem(intermediate.cert), mode: publicFile },
        ...(intermediate.keys
          ? [
              {
                name: names.intermediateKey,
                data: privateKeyPem(intermediate.keys.privateKey, { passphrase: options.passphrase }),
                mode: secretFile,
              },
            ]
          : []),
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
            ...(store
              ? {
                  keyStore: keyStoreMetadata(store),
                  keys: { root: root.ref!, intermediate: intermediate.ref! },
                  ...(store.rootToken ? { rootKeyOffline: true } : {}),
                }
              : {}),
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

function keyStoreMetadata(store: CaKeyStoreMetadata): CaKeyStoreMetadata {
  return {
    kind: 'pkcs11',
    module: store.module,
    token: store.token,
    ...(store.rootToken ? { rootToken: store.rootToken } : {}),
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
