import { readFileSync } from 'node:fs';
import { type ConnectionOptions, credsAuthenticator, nkeyAuthenticator } from 'nats';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** The `nats` block's ways to authenticate to NATS; paths are absolute. At most one of credentials and nkey. */
export interface NatsAuthFiles {
  /** A NATS .creds file (user JWT + nkey seed, decentralised auth). */
  readonly credentialsFile?: string;
  /** A file holding an nkey user seed (SU…). */
  readonly nkeySeedFile?: string;
  /** TLS to NATS, with a client certificate where the server maps certificates to users. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

export type NatsAuth = Pick<ConnectionOptions, 'authenticator' | 'tls'>;

function read(path: string, field: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): check nats.${field}`,
      { cause: err },
    );
  }
}

/**
 * Reads the secrets once, at start (CONFIG_INVALID naming the file and field if unreadable); their content never
 * reaches a log or an error.
 */
export function readNatsAuth(files: NatsAuthFiles | undefined): NatsAuth {
  if (!files) return {};
  if (files.credentialsFile !== undefined && files.nkeySeedFile !== undefined) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      'nats.credentialsFile and nats.nkeySeedFile are both set: give one (a .creds file already holds its nkey)',
    );
  }
  let authenticator: ConnectionOptions['authenticator'];
  if (files.credentialsFile !== undefined) {
    authenticator = credsAuthenticator(read(files.credentialsFile, 'credentialsFile'));
  } else if (files.nkeySeedFile !== undefined) {
    const seed = new TextDecoder().decode(read(files.nkeySeedFile, 'nkeySeedFile')).trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed)) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${files.nkeySeedFile} does not hold an nkey user seed (SU…): check nats.nkeySeedFile (nk -gen user)`,
      );
    }
    authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return {
    ...(authenticator ? { authenticator } : {}),
    ...(files.tls ? { tls: { ...files.tls } } : {}),
  };
}
