import { link, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { z } from 'zod';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { KEY_TYPES, type KeyType } from '../../common/key-type.ts';
import { writeNewFile } from './write-new-file.ts';
import { replaceFile, syncDirectory } from './replace-file.ts';

/** The layout of a CA data directory, relative to it. ca.json is written last: its presence marks a complete CA. */
export const CA_FILE_NAMES = {
  meta: 'ca.json',
  rootCert: 'root.pem',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key',
  bundle: 'bundle.pem',
  controlPlaneSvid: 'control-plane/svid.pem',
  controlPlaneKey: 'control-plane/key.pem',
  adminSvid: 'admin/svid.pem',
  adminKey: 'admin/key.pem',
  adminBundle: 'admin/bundle.pem',
} as const;

export type CaFileRole = keyof typeof CA_FILE_NAMES;
export type CaFileNames = { readonly [K in CaFileRole]: string };
/** Absolute paths of a CA's files. */
export type CaFiles = CaFileNames;

export function caFilePaths(dataDir: string, names: CaFileNames = CA_FILE_NAMES): CaFiles {
  const entries = Object.entries(names).map(([role, name]) => [role, join(dataDir, name)]);
  return Object.freeze(Object.fromEntries(entries)) as CaFiles;
}

/** The files of one CA generation (root + intermediate), relative to the data dir. */
export interface CaGenerationFiles {
  readonly rootCert: string;
  readonly rootKey: string;
  readonly intermediateCert: string;
  readonly intermediateKey: string;
}

/** A key in a PKCS#11 token: its label and CKA_ID (hex). Only references: never key material. */
export interface CaKeyRef {
  readonly label: string;
  readonly id: string;
}

/** Token references of one generation's keys. The root's is absent when that generation reused an older root. */
export interface CaKeyRefs {
  readonly root?: CaKeyRef;
  readonly intermediate: CaKeyRef;
}

export interface TokenLocation {
  readonly label?: string;
  readonly slot?: number;
}

/** Where the CA keys live when not in encrypted files: a PKCS#11 library and token(s). */
export interface CaKeyStoreMetadata {
  readonly kind: 'pkcs11';
  readonly module: string;
  readonly token: TokenLocation;
  /** The root's token, when it is another one (kept offline, plugged in to sign an intermediate). */
  readonly rootToken?: TokenLocation;
}

export interface CaMetadata {
  readonly version: 1;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  /** ISO 8601. */
  readonly createdAt: string;
  /** The CA in force: files.rootCert … files.intermediateKey are its generation. */
  readonly files: CaFileNames;
  /** The root key is kept outside the data dir (ca init --offline-root): rootKey names no file here. */
  readonly rootKeyOffline?: boolean;
  /** Absent: the keys are the encrypted files of `files`. Present: they are in a token, and `keys` names them. */
  readonly keyStore?: CaKeyStoreMetadata;
  /** Token references of the CA in force (keyStore pkcs11 only). */
  readonly keys?: CaKeyRefs;
  /** A prepared rotation: its root is in the bundle, its intermediate does not sign yet. */
  readonly next?: CaGenerationFiles & {
    readonly preparedAt: string;
    readonly intermediateOnly: boolean;
    readonly rootKeyOffline: boolean;
    readonly keys?: CaKeyRefs;
  };
  /** The generation an activation replaced; its root stays in the bundle until retire. */
  readonly previous?: Pick<CaGenerationFiles, 'rootCert' | 'intermediateCert'> & {
    readonly activatedAt: string;
    readonly intermediateOnly: boolean;
  };
}

const relativeName = z
  .string()
  .min(1)
  .refine((name) => !isAbsolute(name) && !normalize(name).startsWith('..'), 'must stay inside the data dir');
const keyRef = z.strictObject({ label: z.string().min(1), id: z.string().regex(/^[0-9a-f]+$/) });
const keyRefs = z.strictObject({ root: keyRef.optional(), intermediate: keyRef });
const tokenLocation = z
  .strictObject({ label: z.string().min(1).optional(), slot: z.number().int().nonnegative().optional() })
  .refine((t) => (t.label === undefined) !== (t.slot === undefined), 'name the token by label or slot, not both');
const metadataSchema = z.strictObject({
  version: z.literal(1),
  trustDomain: z.string().min(1),
  keyType: z.enum(KEY_TYPES),
  createdAt: z.iso.datetime(),
  files: z.strictObject(
    Object.fromEntries(Object.keys(CA_FILE_NAMES).map((role) => [role, relativeName])) as Record<
      CaFileRole,
      typeof relativeName
    >,
  ),
  rootKeyOffline: z.boolean().optional(),
  keyStore: z
    .strictObject({
      kind: z.literal('pkcs11'),
      module: z.string().min(1),
      token: tokenLocation,
      rootToken: tokenLocation.optional(),
    })
    .optional(),
  keys: keyRefs.optional(),
  next: z
    .strictObject({
      rootCert: relativeName,
      rootKey: relativeName,
      intermediateCert: relativeName,
      intermediateKey: relativeName,
      preparedAt: z.iso.datetime(),
      intermediateOnly: z.boolean(),
      rootKeyOffline: z.boolean(),
      keys: keyRefs.optional(),
    })
    .optional(),
  previous: z
    .strictObject({
      rootCert: relativeName,
      intermediateCert: relativeName,
      activatedAt: z.iso.datetime(),
      intermediateOnly: z.boolean(),
    })
    .optional(),
});

export function encodeCaMetadata(meta: CaMetadata): string {
  return `${JSON.stringify(meta, null, 2)}\n`;
}

export function decodeCaMetadata(text: string, source: string): CaMetadata {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SigilError(ErrorCode.CA_INVALID, `${source} is not JSON: restore it from a backup`, { cause: err });
  }
  const parsed = metadataSchema.safeParse(json);
  if (!parsed.success) {
    const findings = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${source} is not valid CA metadata (${findings}): restore it from a backup`,
    );
  }
  return parsed.data as CaMetadata;
}

/** Replaces ca.json in one rename, so a crash leaves either the old or the new state, never half of one. */
export async function writeCaMetadata(path: string, meta: CaMetadata): Promise<void> {
  await replaceFile(path, encodeCaMetadata(meta), 0o644);
}

function topLevel(name: string): string {
  return normalize(name).split('/')[0]!;
}

function topLevelEntries(names: Iterable<string>): string[] {
  return [...new Set([...names].map(topLevel))];
}

/** The CA entries already present in `dataDir` (empty when it does not exist). */
export async function existingCaEntries(dataDir: string, names: CaFileNames = CA_FILE_NAMES): Promise<string[]> {
  let present: string[];
  try {
    present = await readdir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const wanted = new Set(topLevelEntries(Object.values(names)));
  return present.filter((name) => wanted.has(name)).sort();
}

export interface CaFileContent {
  /** Relative to the data dir. */
  readonly name: string;
  readonly data: string;
  readonly mode: number;
}

/**
 * Writes a whole CA directory or nothing: files go into a temp dir inside `dataDir`, then each top-level entry is
 * moved in without replacing anything (hard links for files, exclusive mkdir + rename for dirs), `metaName` last.
 * On any failure the entries moved so far and the temp dir are removed; anything that was there before stays.
 */
export async function writeCaDirectory(
  dataDir: string,
  files: readonly CaFileContent[],
  metaName: string = CA_FILE_NAMES.meta,
): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const temp = await mkdtemp(join(dataDir, '.ca-init-'));
  const committed: string[] = [];
  try {
    for (const file of files) {
      const target = join(temp, file.name);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await writeNewFile(target, file.data, file.mode);
    }
    const tops = topLevelEntries(files.map((f) => f.name));
    const ordered = [...tops.filter((t) => t !== metaName), ...tops.filter((t) => t === metaName)];
    const dirs = new Set(files.filter((f) => topLevel(f.name) !== normalize(f.name)).map((f) => topLevel(f.name)));
    for (const entry of ordered) {
      if (dirs.has(entry)) {
        await mkdir(join(dataDir, entry), { mode: 0o700 });
        committed.push(entry);
        await rename(join(temp, entry), join(dataDir, entry));
      } else {
        await link(join(temp, entry), join(dataDir, entry));
        committed.push(entry);
      }
    }
    await syncDirectory(dataDir);
  } catch (err) {
    await Promise.all(committed.map((entry) => rm(join(dataDir, entry), { recursive: true, force: true })));
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SigilError(
        ErrorCode.CA_EXISTS,
        `${dataDir} already holds CA files (${(err as NodeJS.ErrnoException).path ?? 'an entry'}): nothing was changed`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
