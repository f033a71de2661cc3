import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ErrorCode, SigilError } from '../common/errors.ts';
import type { KeyType } from '../common/key-type.ts';
import type { SigningKey } from '../control-plane/signing.ts';
import type { CliIo } from './io.ts';
import { pkcs11Pin } from './secrets.ts';

/** Flags naming a signing key in a PKCS#11 token (code signing, TSA). */
export interface TokenKeyFlags {
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11Slot?: string;
  keyLabel?: string;
  pinFile?: string;
}

export function withTokenKeyOptions(command: Command): Command {
  return command
    .option(
      '--pkcs11-module <path>',
      'keep the key in a PKCS#11 token: the library (e.g. /usr/lib/softhsm/libsofthsm2.so)',
    )
    .option('--pkcs11-token <label>', 'the token label')
    .option('--pkcs11-slot <index>', 'or the index of its slot')
    .option('--key-label <label>', 'the key label in the token')
    .option('--pin-file <file>', 'file with the token user PIN (default: $SIGIL_PKCS11_PIN_FILE or $SIGIL_PKCS11_PIN)');
}

export function usesToken(opts: TokenKeyFlags): boolean {
  return opts.pkcs11Module !== undefined;
}

/** Opens the token the flags name; the caller closes it. Every missing piece is an error that names the flag. */
async function openToken(io: CliIo, opts: TokenKeyFlags) {
  if (opts.keyLabel === undefined || opts.keyLabel === '') {
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, '--pkcs11-module needs --key-label LABEL (the key in the token)');
  }
  if ((opts.pkcs11Token === undefined) === (opts.pkcs11Slot === undefined)) {
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'name the token with --pkcs11-token LABEL or --pkcs11-slot INDEX');
  }
  const pin = pkcs11Pin(io, opts.pinFile);
  if (!pin) {
    throw new SigilError(
      ErrorCode.PKCS11_PIN,
      'the token needs its user PIN: set SIGIL_PKCS11_PIN, SIGIL_PKCS11_PIN_FILE or pass --pin-file',
    );
  }
  const { Pkcs11Token } = await import('../control-plane/signing.ts');
  return Pkcs11Token.open({
    modulePath: resolve(io.cwd, opts.pkcs11Module!),
    pin,
    ...(opts.pkcs11Token === undefined ? { slot: Number(opts.pkcs11Slot) } : { tokenLabel: opts.pkcs11Token }),
  });
}

/** The signing key `--key-label` names in the token, with a close() for when signing is done. */
export async function tokenSigningKey(
  io: CliIo,
  opts: TokenKeyFlags,
): Promise<{ key: SigningKey; close(): Promise<void> }> {
  const token = await openToken(io, opts);
  try {
    return { key: await token.openKey({ label: opts.keyLabel! }), close: () => token.close() };
  } catch (err) {
    await token.close();
    throw err;
  }
}

/** Generates a new signing key in the token (non-extractable); refuses a label already in use there. */
export async function generateTokenSigningKey(
  io: CliIo,
  opts: TokenKeyFlags,
  keyType: KeyType,
): Promise<{ key: SigningKey; destroy(): Promise<void>; close(): Promise<void> }> {
  const token = await openToken(io, opts);
  try {
    const taken = (await token.listObjects()).some((o) => o.class === 'private' && o.label === opts.keyLabel);
    if (taken) {
      throw new SigilError(
        ErrorCode.PKCS11_KEY,
        `the token already holds a key labelled "${opts.keyLabel}": choose another --key-label (nothing was changed)`,
      );
    }
    const { ref, key } = await token.generateKeyPair(keyType, opts.keyLabel!);
    return { key, destroy: () => token.destroyKey(ref), close: () => token.close() };
  } catch (err) {
    await token.close();
    throw err;
  }
}
