import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckFinding } from './check.ts';

const DAY_MS = 86_400_000;

/** A certificate file `sigil check` reads from disk, so that it can say something with the control plane down. */
export interface LocalCertificateFile {
  readonly check: string;
  readonly path: string;
  /** The PEM text, or the reason it could not be read. */
  readonly pem: string | { readonly error: string };
}

/** The local files worth checking: the CA in force as the data dir shows it, and the admin credential. */
export function localCertificateFiles(dataDir: string, credentialsDir: string): LocalCertificateFile[] {
  const read = (check: string, path: string): LocalCertificateFile => {
    try {
      return { check, path, pem: readFileSync(path, 'utf8') };
    } catch (err) {
      return { check, path, pem: { error: (err as NodeJS.ErrnoException).code ?? 'unreadable' } };
    }
  };
  return [
    read('root expiry (local)', join(dataDir, 'root.pem')),
    read('intermediate expiry (local)', join(dataDir, 'intermediate.pem')),
    read('admin credential', join(credentialsDir, 'svid.pem')),
  ];
}

/** Expiry findings from certificate files; pure apart from parsing, so the rules are table-testable. */
export function localFindings(now: number, files: readonly LocalCertificateFile[]): CheckFinding[] {
  return files.map(({ check, path, pem }) => {
    if (typeof pem !== 'string')
      return { severity: 'warning', check, message: `cannot read ${path} (${pem.error}); is --data-dir right?` };
    let notAfter: number;
    let serial: string;
    try {
      const cert = new X509Certificate(pem);
      notAfter = Date.parse(cert.validTo);
      serial = cert.serialNumber.toLowerCase();
    } catch {
      return { severity: 'error', check, message: `${path} holds no readable certificate` };
    }
    const days = Math.floor((notAfter - now) / DAY_MS);
    const severity = days < 0 ? 'error' : days < 30 ? 'warning' : 'ok';
    const fix = check === 'admin credential' ? 'mint a new admin credential' : 'rotate it (sigil ca rotate)';
    return {
      severity,
      check,
      message: `${path}: ${serial} ${days < 0 ? 'has expired' : `expires in ${days} days`}${severity === 'ok' ? '' : `: ${fix}`}`,
    };
  });
}
