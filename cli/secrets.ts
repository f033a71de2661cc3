import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, SigilError } from '../common/errors.ts';
import type { CliIo } from './io.ts';

/** The CA passphrase, from a file (first line; flag or SIGIL_CA_PASSPHRASE_FILE) or SIGIL_CA_PASSPHRASE; never a flag value. */
export function caPassphrase(io: CliIo, passphraseFile: string | undefined): string {
  const file = passphraseFile ?? io.env['SIGIL_CA_PASSPHRASE_FILE'];
  if (file !== undefined && file !== '') return firstLine(file, 'passphrase file');
  const fromEnv = io.env['SIGIL_CA_PASSPHRASE'];
  if (fromEnv) return fromEnv;
  throw new SigilError(
    ErrorCode.CA_PASSPHRASE,
    'the CA keys are encrypted at rest: set SIGIL_CA_PASSPHRASE, SIGIL_CA_PASSPHRASE_FILE or pass --passphrase-file FILE',
  );
}

export function firstLine(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new SigilError(ErrorCode.INVALID_ARGUMENT, `${what} ${path} is empty`);
  return line;
}

/**
 * The passphrase of a signing or TSA key file, from --passphrase-file, SIGIL_SIGNING_KEY_PASSPHRASE_FILE or
 * SIGIL_SIGNING_KEY_PASSPHRASE; undefined when none is set (an unencrypted 0600 key needs none).
 */
export function signingKeyPassphrase(io: CliIo, passphraseFile: string | undefined): string | undefined {
  const file = passphraseFile ?? io.env['SIGIL_SIGNING_KEY_PASSPHRASE_FILE'];
  if (file !== undefined && file !== '') return firstLine(file, 'passphrase file');
  return io.env['SIGIL_SIGNING_KEY_PASSPHRASE'] || undefined;
}

/**
 * A PKCS#11 user PIN from a file (--pin-file or SIGIL_PKCS11_PIN_FILE) or SIGIL_PKCS11_PIN; never a flag value.
 * `prefix` selects the root token's PIN (SIGIL_PKCS11_ROOT_PIN…). Undefined when none is set.
 */
export function pkcs11Pin(io: CliIo, pinFile: string | undefined, prefix = 'SIGIL_PKCS11'): string | undefined {
  const file = pinFile ?? io.env[`${prefix}_PIN_FILE`];
  if (file !== undefined && file !== '') return firstLine(resolve(io.cwd, file), 'PIN file');
  return io.env[`${prefix}_PIN`] || undefined;
}

/** The CA passphrase when the CA keys may be in a token: needed only when they are files. */
export function optionalCaPassphrase(io: CliIo, passphraseFile: string | undefined): string | undefined {
  try {
    return caPassphrase(io, passphraseFile);
  } catch {
    return undefined;
  }
}
