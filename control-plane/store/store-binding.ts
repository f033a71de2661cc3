import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Store } from './store.ts';

/** In the data dir: the id of the store this CA has run with. Its presence says "a store existed". */
export const STORE_MARKER_FILE = 'store-id';
/** The store's own id (meta key): the epoch its CRL numbers belong to. */
export const STORE_ID_META = 'store.id';
const CRL_SEQUENCE = 'crl';

export interface StoreBindingOptions {
  readonly dataDir: string;
  /** How the operator names the store in messages: the SQLite file or the PostgreSQL schema. */
  readonly storeName: string;
  /** The operator's explicit `--init-store`: start a new, empty store on purpose. */
  readonly initStore: boolean;
}

function missing(options: StoreBindingOptions, what: string): SigilError {
  return new SigilError(
    ErrorCode.STORE_MISSING,
    `the store ${options.storeName} ${what}, but the CA in ${options.dataDir} has run with a store before (${join(options.dataDir, STORE_MARKER_FILE)}): starting would roll revocations, tokens and policies back, and sidecars holding a newer CRL would stop taking new revocations. Restore the store from a backup or correct its path in the configuration; only to begin a new, empty store on purpose, start once with --init-store`,
    { details: { store: options.storeName, dataDir: options.dataDir } },
  );
}

async function readMarker(dataDir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dataDir, STORE_MARKER_FILE), 'utf8')).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Before a SQLite store is opened (opening creates the file): refuses a missing or zero-length file when the data
 * dir says a store existed, so nothing is written. STORE_MISSING names the file and what to do.
 */
export async function refuseMissingSqlite(options: StoreBindingOptions & { readonly path: string }): Promise<void> {
  if (options.initStore || (await readMarker(options.dataDir)) === undefined) return;
  const size = await stat(options.path).then(
    (s) => s.size,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return -1;
      throw err;
    },
  );
  if (size === -1) throw missing(options, 'does not exist');
  if (size === 0) throw missing(options, 'is empty');
}

/**
 * After the store is open: ties it to the data dir. A store with an id: the marker follows it (a new replica, a
 * migrated store). A store that has never signed a CRL is new: accepted on the first start after `ca init` (no
 * marker yet) or with --init-store, refused (STORE_MISSING) otherwise. A store in use before ids existed gets one.
 */
export async function bindStore(store: Store, options: StoreBindingOptions): Promise<void> {
  const marker = await readMarker(options.dataDir);
  let id = await store.getMeta(STORE_ID_META);
  if (id === undefined) {
    const fresh = (await store.currentSequence(CRL_SEQUENCE)) === 0;
    if (fresh && marker !== undefined && !options.initStore) throw missing(options, 'is empty');
    id = randomUUID();
    await store.setMeta(STORE_ID_META, id);
  }
  if (marker !== id) await writeFile(join(options.dataDir, STORE_MARKER_FILE), `${id}\n`, { mode: 0o600 });
}
