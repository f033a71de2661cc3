import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { replaceFile, syncDirectory } from '../ca/replace-file.ts';
import type { ReloadSpec } from './acme-config.ts';
import { runHook } from './hook-command.ts';

/** What a service reads: stable names in the install directory. */
export const INSTALLED_FILES = ['key.pem', 'cert.pem', 'chain.pem', 'fullchain.pem'] as const;
const VERSIONS = 'versions';
const CURRENT = 'current';

export interface CertificateFiles {
  readonly keyPem: string;
  /** The leaf alone. */
  readonly certPem: string;
  /** Intermediates, leaf excluded. */
  readonly chainPem: string;
}

/**
 * Installs certificate versions so that a reader sees the old key and certificate or the new ones, never a mix:
 *
 *   DIR/versions/<serial>/{key,cert,chain,fullchain}.pem   each written to a temp file, fsynced, renamed (key 0600)
 *   DIR/current -> versions/<serial>                      switched by renaming a new symlink over it (atomic)
 *   DIR/{key,cert,chain,fullchain}.pem -> current/...     fixed links, made once
 *
 * The version before the current one is kept (rollback, forensics); older ones are pruned.
 */
export class CertificateInstaller {
  /** Writes a version without putting it in service. Idempotent for the same serial. */
  async stage(dir: string, serial: string, files: CertificateFiles): Promise<void> {
    const version = join(dir, VERSIONS, serial);
    try {
      await mkdir(version, { recursive: true, mode: 0o755 });
      await replaceFile(join(version, 'key.pem'), files.keyPem, 0o600);
      await replaceFile(join(version, 'cert.pem'), files.certPem, 0o644);
      await replaceFile(join(version, 'chain.pem'), files.chainPem, 0o644);
      await replaceFile(join(version, 'fullchain.pem'), files.certPem + files.chainPem, 0o644);
    } catch (err) {
      throw installError(dir, err);
    }
  }

  /** The serial in service, if any. */
  async current(dir: string): Promise<string | undefined> {
    try {
      const target = await readlink(join(dir, CURRENT));
      return target.split('/').pop();
    } catch {
      return undefined;
    }
  }

  /** Puts a staged version in service in one rename; returns the serial it replaced. */
  async activate(dir: string, serial: string): Promise<string | undefined> {
    const previous = await this.current(dir);
    try {
      await lstat(join(dir, VERSIONS, serial, 'key.pem'));
      const temp = join(dir, `.${CURRENT}.${randomBytes(6).toString('hex')}`);
      await symlink(join(VERSIONS, serial), temp);
      await rename(temp, join(dir, CURRENT));
      await this.#links(dir);
      await syncDirectory(dir);
    } catch (err) {
      throw installError(dir, err);
    }
    return previous;
  }

  /** Keeps the current and the previous version, removes the rest. */
  async prune(dir: string, keep: readonly (string | undefined)[]): Promise<void> {
    const names = await readdir(join(dir, VERSIONS)).catch(() => [] as string[]);
    for (const name of names) {
      if (!keep.includes(name)) await rm(join(dir, VERSIONS, name), { recursive: true, force: true });
    }
  }

  /** The installed files of the version in service, as text (for checks and `acme show`). */
  async read(dir: string, file: (typeof INSTALLED_FILES)[number]): Promise<string> {
    return readFile(join(dir, file), 'utf8');
  }

  /** Fixed links from the stable names into `current`; a pre-existing regular file is kept aside as NAME.orig. */
  async #links(dir: string): Promise<void> {
    for (const name of INSTALLED_FILES) {
      const path = join(dir, name);
      const info = await lstat(path).catch(() => undefined);
      if (info?.isSymbolicLink()) continue;
      if (info) await rename(path, `${path}.orig`);
      await symlink(join(CURRENT, name), path);
    }
  }
}

function installError(dir: string, err: unknown): SigilError {
  return new SigilError(
    ErrorCode.ACME_INSTALL_FAILED,
    `cannot install into ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): check that the directory exists or can be created and is writable by the control plane; the certificate in service is unchanged`,
    { cause: err },
  );
}

/**
 * Tells the service using the certificate to load it again: a command (no shell; SIGIL_ACME_* in its environment)
 * or a signal to the process in a pid file.
 */
export async function runReload(
  reload: ReloadSpec,
  context: { readonly name: string; readonly dir: string; readonly serial: string },
): Promise<void> {
  try {
    if ('command' in reload) {
      await runHook(reload.command, [], {
        timeoutMs: reload.timeout,
        env: {
          SIGIL_ACME_CERT_NAME: context.name,
          SIGIL_ACME_CERT_DIR: context.dir,
          SIGIL_ACME_SERIAL: context.serial,
        },
      });
      return;
    }
    const text = (await readFile(reload.pidFile, 'utf8')).trim();
    const pid = Number(text);
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${reload.pidFile} does not hold a process id`);
    process.kill(pid, reload.signal);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : (err as Error).message;
    throw new SigilError(
      ErrorCode.ACME_RELOAD_FAILED,
      `the reload hook of ${context.name} failed: ${why}; the previous certificate stays installed and Sigil retries`,
      { cause: err },
    );
  }
}
