import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { CA_FILE_NAMES, type CaMetadata, decodeCaMetadata } from '../ca/ca-files.ts';
import { decodePrivateKeyPem, privateKeyPem } from '../ca/key-file.ts';
import { replaceFile } from '../ca/replace-file.ts';
import type { CaFileRecord, Store } from '../store/store.ts';
import { JWT_KEYS_FILE } from '../jwt/jwt-key-set.ts';

export interface CaStateSyncOptions {
  readonly dataDir: string;
  /** Seals the keys that are plain on disk; must open the CA's keys. Never logged. */
  readonly passphrase: string;
}

export interface CaStateSyncDeps {
  readonly store: Pick<Store, 'getCaFiles' | 'replaceCaFiles'>;
  readonly logger: Logger;
}

const PLAIN_KEY = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/;

/** Every file the CA's state consists of: the fixed layout, plus each generation ca.json names. */
export function caFileNames(meta: CaMetadata): string[] {
  // The JWT-SVID keys (encrypted like the CA keys) are part of the CA state: rotated by the same steps.
  const names = new Set<string>([...Object.values(CA_FILE_NAMES), ...Object.values(meta.files), JWT_KEYS_FILE]);
  for (const generation of [meta.next, meta.previous]) {
    if (!generation) continue;
    for (const [key, value] of Object.entries(generation)) {
      if (typeof value === 'string' && /^(root|intermediate)(Cert|Key)$/.test(key)) names.add(value);
    }
  }
  return [...names].sort();
}

async function readIfPresent(path: string): Promise<{ data: Buffer; mode: number } | undefined> {
  try {
    const [data, info] = await Promise.all([readFile(path), stat(path)]);
    return { data, mode: info.mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The CA's state shared by replicas (DESIGN.md section 7): the store holds the CA directory (ca.json, certificates,
 * encrypted keys) as rows, and each replica's data dir is a copy of it that the existing file-based CA code reads.
 * Every change is made by one replica inside the cluster lock `ca`: pull (bring the copy up to date), change the
 * files, push (one transaction, refused if another replica wrote in between). The others pull when told.
 */
export class CaStateSync {
  readonly #options: CaStateSyncOptions;
  readonly #deps: CaStateSyncDeps;
  /** The generation the data dir matches. */
  #generation = 0;

  constructor(options: CaStateSyncOptions, deps: CaStateSyncDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * At start, inside the `ca` lock: an empty store is seeded from this data dir's CA (the first replica, after
   * `sigil ca init`); otherwise the data dir is made a copy of the store. A data dir holding a different CA (another
   * trust domain, or a root the store never had) is refused, changing nothing.
   */
  async startup(): Promise<'seeded' | 'pulled'> {
    const stored = await this.#deps.store.getCaFiles();
    const local = await this.#localMeta();
    if (stored.files.length === 0) {
      if (!local) {
        throw new SigilError(
          ErrorCode.CA_MISSING,
          `neither the store nor ${this.#options.dataDir} holds a CA: run sigil ca init --data-dir ${this.#options.dataDir} on one replica, start it, then start the others`,
        );
      }
      await this.push(0);
      this.#deps.logger.info({ generation: this.#generation }, 'CA state stored for the other replicas');
      return 'seeded';
    }
    if (local) await this.#refuseForeign(local, stored.files);
    await this.#write(stored.files);
    this.#generation = stored.generation;
    return 'pulled';
  }

  /** Brings the data dir up to the store's latest generation; true when it changed. */
  async pull(): Promise<boolean> {
    const stored = await this.#deps.store.getCaFiles();
    if (stored.generation === this.#generation || stored.files.length === 0) return false;
    await this.#write(stored.files);
    this.#generation = stored.generation;
    return true;
  }

  /**
   * Stores the data dir's CA files as the next generation. Refused (CA_ROTATION_STATE) when another replica stored
   * one since this replica's last pull: the caller pulls and decides again.
   */
  async push(expected = this.#generation): Promise<void> {
    const files = await this.#read();
    const generation = await this.#deps.store.replaceCaFiles(files, expected);
    if (generation === undefined) {
      throw new SigilError(
        ErrorCode.CA_ROTATION_STATE,
        'another control-plane replica changed the CA meanwhile: run the step again (it starts from the new state)',
      );
    }
    this.#generation = generation;
  }

  /**
   * Stores the data dir's CA state if it differs from the stored one (a step changed it, even one that then failed
   * half-way: its committed part must reach the others); true when it stored. Sealed keys are compared through the
   * files that change with them (a re-issued admin key comes with a new admin SVID).
   */
  async pushIfChanged(): Promise<boolean> {
    // Compared without sealing: encrypting a key (a deliberately slow KDF) only when there is something to store.
    const [local, stored] = await Promise.all([this.#read(false), this.#deps.store.getCaFiles()]);
    const plain = (files: readonly CaFileRecord[]) =>
      files
        .filter((f) => !f.sealed)
        .map((f) => `${f.name}:${f.mode}:${Buffer.from(f.data).toString('base64')}`)
        .sort()
        .join('|');
    const names = (files: readonly CaFileRecord[]) =>
      files
        .map((f) => f.name)
        .sort()
        .join('|');
    if (
      stored.generation === this.#generation &&
      plain(local) === plain(stored.files) &&
      names(local) === names(stored.files)
    )
      return false;
    await this.push();
    return true;
  }

  async #localMeta(): Promise<CaMetadata | undefined> {
    const path = join(this.#options.dataDir, CA_FILE_NAMES.meta);
    const file = await readIfPresent(path);
    return file ? decodeCaMetadata(file.data.toString('utf8'), path) : undefined;
  }

  /** The data dir's CA files; with `seal`, plain keys encrypted for the store, without, left out of the data. */
  async #read(seal = true): Promise<CaFileRecord[]> {
    const meta = await this.#localMeta();
    if (!meta)
      throw new SigilError(ErrorCode.CA_MISSING, `${this.#options.dataDir} holds no CA to store: run sigil ca init`);
    const files: CaFileRecord[] = [];
    for (const name of caFileNames(meta)) {
      const file = await readIfPresent(join(this.#options.dataDir, name));
      if (!file) continue;
      const text = file.data.toString('utf8');
      if (PLAIN_KEY.test(text)) {
        if (!seal) {
          files.push({ name, data: new Uint8Array(), mode: file.mode, sealed: true });
          continue;
        }
        // A key that is plain on disk (0600) never reaches the database in the clear.
        const key = decodePrivateKeyPem(text, name);
        const sealed = privateKeyPem(key, { passphrase: this.#options.passphrase });
        files.push({ name, data: Buffer.from(sealed), mode: file.mode, sealed: true });
      } else {
        files.push({ name, data: new Uint8Array(file.data), mode: file.mode, sealed: false });
      }
    }
    return files;
  }

  /** Writes every stored file to the data dir (each replaced in one rename), ca.json last: it commits the state. */
  async #write(files: readonly CaFileRecord[]): Promise<void> {
    const ordered = [
      ...files.filter((f) => f.name !== CA_FILE_NAMES.meta),
      ...files.filter((f) => f.name === CA_FILE_NAMES.meta),
    ];
    const opened = ordered.map((f) => ({ ...f, text: this.#open(f) }));
    for (const f of opened) {
      const path = join(this.#options.dataDir, f.name);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await replaceFile(path, f.text, f.mode);
    }
  }

  /** The file as it is on disk; a sealed key is decrypted, which also proves this replica has the right passphrase. */
  #open(file: CaFileRecord): string {
    const text = Buffer.from(file.data).toString('utf8');
    if (!file.sealed) return text;
    try {
      return privateKeyPem(decodePrivateKeyPem(text, file.name, { passphrase: this.#options.passphrase }));
    } catch (err) {
      throw new SigilError(
        ErrorCode.CA_PASSPHRASE,
        `the CA passphrase of this replica does not open the CA state in the store (${file.name}): every replica must use the passphrase the CA was created with (SIGIL_CA_PASSPHRASE or its file)`,
        { cause: err },
      );
    }
  }

  /** The data dir may be an older copy of the stored CA, never another CA. */
  async #refuseForeign(local: CaMetadata, stored: readonly CaFileRecord[]): Promise<void> {
    const storedMetaFile = stored.find((f) => f.name === CA_FILE_NAMES.meta);
    const storedMeta = storedMetaFile
      ? decodeCaMetadata(Buffer.from(storedMetaFile.data).toString('utf8'), 'the CA state in the store')
      : undefined;
    if (storedMeta && storedMeta.trustDomain !== local.trustDomain) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${this.#options.dataDir} holds the CA of trust domain ${local.trustDomain}, but the store is shared by replicas of ${storedMeta.trustDomain}: point this replica at its own database, or empty its data dir to join`,
      );
    }
    const localRoot = await readIfPresent(join(this.#options.dataDir, local.files.rootCert));
    if (!localRoot) return;
    const known = stored.some((f) => !f.sealed && Buffer.from(f.data).equals(localRoot.data));
    if (!known) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${this.#options.dataDir} holds a CA (root ${local.files.rootCert}) that the shared store never had: this replica was initialised with its own sigil ca init. Empty its data dir so it takes the shared CA, or point it at its own database`,
      );
    }
  }
}
