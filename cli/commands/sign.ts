import type { Command } from 'commander';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { SigningKey } from '../../control-plane/signing.ts';
import { type CliIo, printJson } from '../io.ts';
import { signingKeyPassphrase } from '../secrets.ts';
import { type TokenKeyFlags, tokenSigningKey, usesToken, withTokenKeyOptions } from '../token-key.ts';

interface SignFlags extends TokenKeyFlags {
  cert: string;
  key?: string;
  tsa?: string;
  tsaPolicy?: string;
  pem?: boolean;
  allowNoTimestamp?: boolean;
  passphraseFile?: string;
  json?: boolean;
}

export async function readCertificates(io: CliIo, path: string, what: string): Promise<Uint8Array[]> {
  const { pemCertificatesToDer } = await import('../../common/trust-bundle.ts');
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, path), 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
  const ders = pemCertificatesToDer(text);
  if (ders.length === 0) throw new SigilError(ErrorCode.INVALID_ARGUMENT, `${what} ${path} holds no PEM certificate`);
  return ders;
}

/** Replaces FILE.p7s in one step: a reader never sees half a signature. */
function writeSignature(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes, { mode: 0o644 });
  renameSync(temporary, path);
}

/** The signing key of `sign` and `tsa run`: a key file (--key) or a token key (--pkcs11-module … --key-label). */
export async function signerKey(
  io: CliIo,
  opts: TokenKeyFlags & { key?: string; passphraseFile?: string },
): Promise<{ key: SigningKey; close(): Promise<void> }> {
  if ((opts.key === undefined) === !usesToken(opts)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'give the signing key as --key FILE or as --pkcs11-module … --key-label LABEL',
    );
  }
  if (usesToken(opts)) return tokenSigningKey(io, opts);
  const { loadSigningKeyFile } = await import('../../control-plane/signing.ts');
  const key = await loadSigningKeyFile(resolve(io.cwd, opts.key!), {
    passphrase: signingKeyPassphrase(io, opts.passphraseFile),
  });
  return { key, close: async () => undefined };
}

export function registerSignCommands(program: Command, io: CliIo): void {
  withTokenKeyOptions(program.command('sign'))
    .description('sign files: FILE.p7s, a detached CMS signature with the signer chain and an RFC 3161 timestamp')
    .argument('<file...>', 'files to sign')
    .requiredOption('--cert <file>', 'code-signing certificate chain (PEM, from sigil signing cert)')
    .option('--key <file>', 'its private key (PEM; encrypted keys take $SIGIL_SIGNING_KEY_PASSPHRASE)')
    .option('--tsa <url>', 'RFC 3161 time-stamp authority (default: $SIGIL_TSA_URL)')
    .option('--tsa-policy <oid>', 'ask the TSA for this policy')
    .option('--pem', 'write the signature as PEM instead of DER')
    .option('--allow-no-timestamp', 'accept signatures without a timestamp (they die with the certificate)')
    .option('--passphrase-file <file>', 'file with the key passphrase')
    .option('--json', 'print a JSON summary')
    .action(async (files: string[], opts: SignFlags) => {
      const { parseTsaUrl } = await import('../../control-plane/signing.ts');
      const tsaUrl = opts.tsa ?? io.env['SIGIL_TSA_URL'];
      if (tsaUrl === undefined && !opts.allowNoTimestamp) {
        throw new SigilError(
          ErrorCode.UNTIMESTAMPED,
          'no TSA: pass --tsa URL (or set SIGIL_TSA_URL) so signatures outlive the certificate, or --allow-no-timestamp',
        );
      }
      if (tsaUrl !== undefined) parseTsaUrl(tsaUrl);
      const chainDer = await readCertificates(io, opts.cert, 'certificate file');
      const opened = await signerKey(io, opts);
      try {
        await signFiles(io, files, opts, chainDer, opened.key, tsaUrl);
      } finally {
        await opened.close();
      }
    });
}

async function signFiles(
  io: CliIo,
  files: string[],
  opts: SignFlags,
  chainDer: Uint8Array[],
  key: SigningKey,
  tsaUrl: string | undefined,
): Promise<void> {
  const { assertCanSign, fileDigest, signatureAlgorithmOf, signDigest, tsaTimestamper } = await import(
    '../../control-plane/signing.ts'
  );
  const now = Date.now();
  const signer = assertCanSign({ chainDer, key }, now);
  const { digest } = signatureAlgorithmOf(key.keyType);
  const results = [];
  for (const file of files) {
    const path = resolve(io.cwd, file);
    const signed = await signDigest({ chainDer, key }, await fileDigest(path, digest), {
      now,
      format: opts.pem ? 'pem' : 'der',
      ...(tsaUrl !== undefined
        ? {
            timestamper: tsaTimestamper({
              url: tsaUrl,
              ...(opts.tsaPolicy !== undefined ? { policy: opts.tsaPolicy } : {}),
            }),
          }
        : {}),
    });
    writeSignature(`${path}.p7s`, signed.signature);
    results.push({
      file: path,
      signature: `${path}.p7s`,
      timestamped: signed.timestamp !== undefined,
      ...(signed.timestamp
        ? {
            timestamp: new Date(signed.timestamp.genTime).toISOString(),
            tsaSerial: signed.timestamp.serial,
            policy: signed.timestamp.policy,
          }
        : {}),
      ...(signed.timestampError
        ? { untimestampedBecause: signed.timestampError.message, errorCode: signed.timestampError.code }
        : {}),
    });
  }
  const summary = { signer: signer.subject, serial: signer.serial, results };
  if (opts.json) printJson(io, summary);
  else {
    for (const r of results) {
      io.stdout.write(
        r.timestamped
          ? `signed ${basename(r.file)} -> ${r.signature} (timestamped ${r.timestamp}, TSA serial ${r.tsaSerial})\n`
          : `signed ${basename(r.file)} -> ${r.signature} WITHOUT TIMESTAMP${r.untimestampedBecause ? `: ${r.untimestampedBecause}` : ''}\n`,
      );
    }
  }
  const untimestamped = results.filter((r) => !r.timestamped);
  if (untimestamped.length > 0 && !opts.allowNoTimestamp) {
    throw new SigilError(
      ErrorCode.UNTIMESTAMPED,
      `${untimestamped.length} signature(s) written without a timestamp (${untimestamped[0]!.untimestampedBecause}): they stop verifying when the certificate expires; sign again when the TSA answers, or pass --allow-no-timestamp`,
    );
  }
}
