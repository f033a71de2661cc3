import type { Command } from 'commander';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseKeyType } from '../../common/key-type.ts';
import type { SigningProfile } from '../../control-plane/signing.ts';
import type { sigil } from '../../proto/index.ts';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson } from '../io.ts';
import { signingKeyPassphrase } from '../secrets.ts';
import { generateTokenSigningKey, type TokenKeyFlags, usesToken, withTokenKeyOptions } from '../token-key.ts';

export interface SignerCertFlags extends AdminFlags, TokenKeyFlags {
  csr?: string;
  keyOut?: string;
  subject?: string;
  keyType: string;
  ttl?: string;
  out: string;
  encrypt: boolean;
  passphraseFile?: string;
  json?: boolean;
}

function readCsr(path: string): Uint8Array {
  const bytes = readFileSync(path);
  const pem = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END/.exec(bytes.toString('latin1'));
  return new Uint8Array(pem ? Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64') : bytes);
}

/** The options `signing cert` and `tsa cert` share. */
export function withSignerCertOptions(command: Command, defaultTtl: string): Command {
  return withTokenKeyOptions(withAdminOptions(command))
    .option('--csr <file>', 'certify this CSR (PEM or DER; its subject names the signer); no key is written')
    .option('--key-out <file>', 'generate the key here (mode 0600, encrypted unless --no-encrypt) and certify it')
    .option('--subject <dn>', 'with --key-out: the subject, e.g. "CN=release-pipeline,O=Acme"')
    .option('--key-type <type>', 'key type when generating', 'ec-p256')
    .option('--ttl <duration>', `certificate lifetime, at most 365d (default ${defaultTtl})`)
    .requiredOption('--out <file>', 'where to write the certificate chain (PEM: certificate, then its CA)')
    .option('--no-encrypt', 'write the generated key unencrypted (still mode 0600)')
    .option(
      '--passphrase-file <file>',
      'passphrase for the generated key (default: $SIGIL_SIGNING_KEY_PASSPHRASE_FILE or $SIGIL_SIGNING_KEY_PASSPHRASE)',
    );
}

/**
 * Gets a certificate of `profile` from the control plane. With --key-out the key is made here and its file is claimed
 * before the request (a refused request removes it again), so a certificate never exists without its key.
 */
export async function issueSignerCertificate(io: CliIo, opts: SignerCertFlags, profile: SigningProfile): Promise<void> {
  if (usesToken(opts)) return issueTokenSignerCertificate(io, opts, profile);
  if ((opts.csr === undefined) === (opts.keyOut === undefined)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'give exactly one of --csr FILE, --key-out FILE --subject DN, or --pkcs11-module … --key-label L --subject DN',
    );
  }
  const ttlSeconds = opts.ttl === undefined ? 0 : Math.ceil(parseDuration(opts.ttl) / 1000);
  const { makeSigningCsr, writeNewFile, writePrivateKeyFile } = await import('../../control-plane/signing.ts');
  const { generateKeyPair } = await import('../../common/key-pair.ts');
  const { derToPem } = await import('../../common/trust-bundle.ts');
  const out = resolve(io.cwd, opts.out);
  let csr: Uint8Array;
  let keyPath: string | undefined;
  if (opts.keyOut !== undefined) {
    if (opts.subject === undefined)
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        '--key-out needs --subject, e.g. --subject "CN=release-pipeline,O=Acme"',
      );
    const passphrase = signingKeyPassphrase(io, opts.passphraseFile);
    if (opts.encrypt && passphrase === undefined) {
      throw new SigilError(
        ErrorCode.SIGNING_KEY,
        'the new key is stored encrypted: set SIGIL_SIGNING_KEY_PASSPHRASE(_FILE) or --passphrase-file, or pass --no-encrypt for a plain 0600 file',
      );
    }
    const keyType = parseKeyType(opts.keyType);
    const keys = await generateKeyPair(keyType);
    csr = await makeSigningCsr({ subject: opts.subject, keyType, keys });
    keyPath = resolve(io.cwd, opts.keyOut);
    await writePrivateKeyFile(keyPath, keys.privateKey, opts.encrypt ? { passphrase } : {});
  } else {
    csr = readCsr(resolve(io.cwd, opts.csr as string));
  }
  let issued: sigil.v1.IssueSigningCertificateResponse;
  try {
    issued = await withAdmin(io, opts, (api) => api.issueSigningCertificate({ csr, profile, ttlSeconds }));
    await writeNewFile(out, issued.chain.map((der) => derToPem(der)).join(''), 0o644);
  } catch (err) {
    if (keyPath !== undefined) rmSync(keyPath, { force: true });
    throw err;
  }
  const summary = {
    serial: issued.serial,
    subject: issued.subject,
    profile,
    notAfter: new Date(Number(issued.notAfterUnixMs)).toISOString(),
    certificate: out,
    ...(keyPath !== undefined ? { key: keyPath, keyEncrypted: opts.encrypt } : {}),
  };
  if (opts.json) return printJson(io, summary);
  io.stdout.write(
    `issued ${profile} certificate ${summary.serial} for ${summary.subject}, valid until ${summary.notAfter}\n` +
      `  certificate chain: ${out}\n${keyPath !== undefined ? `  key: ${keyPath} (${opts.encrypt ? 'encrypted' : 'unencrypted'}, mode 0600)\n` : ''}`,
  );
}

/** The key is generated in a PKCS#11 token and signs its own CSR there; a refused request removes it again. */
async function issueTokenSignerCertificate(io: CliIo, opts: SignerCertFlags, profile: SigningProfile): Promise<void> {
  if (opts.csr !== undefined || opts.keyOut !== undefined || opts.subject === undefined) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'a key in a token takes --key-label and --subject DN, not --csr or --key-out',
    );
  }
  const ttlSeconds = opts.ttl === undefined ? 0 : Math.ceil(parseDuration(opts.ttl) / 1000);
  const { makeSigningCsr, writeNewFile } = await import('../../control-plane/signing.ts');
  const { derToPem } = await import('../../common/trust-bundle.ts');
  const keyType = parseKeyType(opts.keyType);
  const out = resolve(io.cwd, opts.out);
  const generated = await generateTokenSigningKey(io, opts, keyType);
  let issued: sigil.v1.IssueSigningCertificateResponse;
  try {
    const csr = await makeSigningCsr({ subject: opts.subject, keyType, keys: generated.key });
    issued = await withAdmin(io, opts, (api) => api.issueSigningCertificate({ csr, profile, ttlSeconds }));
    await writeNewFile(out, issued.chain.map((der) => derToPem(der)).join(''), 0o644);
  } catch (err) {
    await generated.destroy().catch(() => undefined);
    throw err;
  } finally {
    await generated.close();
  }
  const summary = {
    serial: issued.serial,
    subject: issued.subject,
    profile,
    notAfter: new Date(Number(issued.notAfterUnixMs)).toISOString(),
    certificate: out,
    key: generated.key.description,
  };
  if (opts.json) return printJson(io, summary);
  io.stdout.write(
    `issued ${profile} certificate ${summary.serial} for ${summary.subject}, valid until ${summary.notAfter}\n` +
      `  certificate chain: ${out}\n  key: ${summary.key} (non-extractable)\n`,
  );
}

export function registerSigningCommands(program: Command, io: CliIo): void {
  const signing = program.command('signing').description('code-signing certificates from the internal CA');
  withSignerCertOptions(signing.command('cert'), '90d')
    .description('issue a code-signing certificate (EKU codeSigning), recorded in the inventory and revocable')
    .option('--json', 'print a JSON summary')
    .action((opts: SignerCertFlags) => issueSignerCertificate(io, opts, 'code-signing'));
}
