import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { pemCertificatesToDer } from '../../common/trust-bundle.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import type { TlsMaterial } from './credential-source.ts';

/** Where the SVID manager keeps its SVID between runs (implemented on disk by `SvidStateDir`, in memory in tests). */
export interface SvidStateStore {
  /** The stored SVID for `spiffeId`, or undefined when there is none or it is unreadable (never throws). */
  load(spiffeId: string): Promise<TlsMaterial | undefined>;
  /** Replaces the stored SVID in one step: after a crash the old or the new one is there, never half of each. */
  save(material: TlsMaterial): Promise<void>;
  /** Forgets the stored SVID (revoked, refused): the next start attests again. */
  discard(): Promise<void>;
}

/** One file so that certificate, key and bundle always belong together; 0600 because it holds the private key. */
export const SVID_STATE_FILE = 'svid-state.json';
const FORMAT = 1;

interface StoredSvid {
  readonly format: number;
  readonly spiffeId: string;
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
}

/**
 * The sidecar's state directory (`stateDir`, mode 0700). Holds the current SVID, its key and the bundle it was
 * issued with, so that a restarted sidecar renews with it instead of needing a new join token (as SPIRE's agent does
 * with its node SVID). Serial and notAfter are read from the certificate itself, never trusted from the file.
 */
export class SvidStateDir implements SvidStateStore {
  readonly #dir: string;
  readonly #onWarning: (message: string, fields: Record<string, unknown>) => void;

  constructor(options: { dir: string; onWarning: (message: string, fields: Record<string, unknown>) => void }) {
    this.#dir = options.dir;
    this.#onWarning = options.onWarning;
  }

  get path(): string {
    return join(this.#dir, SVID_STATE_FILE);
  }

  /** Creates the directory (0700) or tightens an existing one; fails with a config error when it cannot. */
  async prepare(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const info = await stat(this.#dir);
      if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      if ((info.mode & 0o077) !== 0) await chmod(this.#dir, 0o700);
    } catch (err) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `cannot use stateDir ${this.#dir}: ${(err as NodeJS.ErrnoException).code ?? 'unusable'}; give the sidecar a directory it owns`,
        { cause: err },
      );
    }
  }

  async load(spiffeId: string): Promise<TlsMaterial | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#onWarning('the stored SVID cannot be read; the sidecar attests with a join token', {
          path: this.path,
          error: (err as NodeJS.ErrnoException).code,
        });
      return undefined;
    }
    try {
      const stored = JSON.parse(text) as StoredSvid;
      if (stored.format !== FORMAT || typeof stored.keyPem !== 'string' || typeof stored.bundlePem !== 'string')
        throw new Error(`unknown format ${String(stored.format)}`);
      if (stored.spiffeId !== spiffeId) {
        this.#onWarning('the stored SVID is for another SPIFFE ID and is ignored', {
          path: this.path,
          stored: stored.spiffeId,
        });
        return undefined;
      }
      const [leaf] = pemCertificatesToDer(stored.certChainPem);
      if (leaf === undefined) throw new Error('no certificate');
      const facts = parseX509Facts(leaf);
      return {
        certChainPem: stored.certChainPem,
        keyPem: stored.keyPem,
        bundlePem: stored.bundlePem,
        spiffeId,
        serial: facts.serial,
        notAfter: facts.notAfter,
      };
    } catch (err) {
      this.#onWarning('the stored SVID is damaged and is ignored; the sidecar attests with a join token', {
        path: this.path,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  async save(material: TlsMaterial): Promise<void> {
    const stored: StoredSvid = {
      format: FORMAT,
      spiffeId: material.spiffeId,
      certChainPem: material.certChainPem,
      keyPem: material.keyPem,
      bundlePem: material.bundlePem,
    };
    const temp = `${this.path}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(stored));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, this.path);
  }

  async discard(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
