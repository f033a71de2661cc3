import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Verdict } from '../../control-plane/signing.ts';
import { type CliIo, printJson } from '../io.ts';
import { readCertificates } from './sign.ts';

interface VerifyFlags {
  sig?: string;
  bundle?: string;
  tsaBundle?: string;
  crl: string[];
  crlIssuer?: string;
  signerName?: string;
  tsaPolicy?: string;
  strictKeyCompromise?: boolean;
  requireTimestamp?: boolean;
  json?: boolean;
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/;

/** A CRL from a file or an http(s) URL (the control plane serves its own at /crl), DER or PEM. */
async function readCrl(io: CliIo, source: string): Promise<Uint8Array> {
  const { httpBytes } = await import('../../control-plane/signing.ts');
  let bytes: Uint8Array;
  if (/^https?:\/\//i.test(source)) {
    let res: Awaited<ReturnType<typeof httpBytes>>;
    try {
      res = await httpBytes(new URL(source), { method: 'GET', timeoutMs: 10_000 });
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new SigilError(ErrorCode.UNAVAILABLE, `cannot fetch the CRL ${source} (${why})`);
    }
    if (res.status !== 200)
      throw new SigilError(ErrorCode.UNAVAILABLE, `the CRL ${source} answered HTTP ${res.status}`);
    bytes = res.body;
  } else {
    try {
      bytes = new Uint8Array(readFileSync(resolve(io.cwd, source)));
    } catch (err) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `cannot read the CRL ${source} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
  }
  const pem = PEM_CRL.exec(Buffer.from(bytes).toString('latin1'));
  return pem ? new Uint8Array(Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64')) : bytes;
}

function report(io: CliIo, file: string, verdict: Verdict): void {
  if (verdict.valid) {
    const ts = verdict.timestamp;
    io.stdout.write(
      `verified: ${file} signed by "${verdict.signer?.subject}" (serial ${verdict.signer?.serial})\n` +
        (ts
          ? `  timestamped ${new Date(ts.genTime).toISOString()} by "${ts.tsa}" (policy ${ts.policy}, serial ${ts.serial}); chain judged at that time\n`
          : '  NOT timestamped: valid only while the certificate is valid and unrevoked\n') +
        `  revocation: ${verdict.checks.find((c) => c.check === 'revocation')?.detail ?? 'not checked'}\n`,
    );
    return;
  }
  for (const c of verdict.checks) io.stderr.write(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}\n`);
}

export function registerVerifyCommands(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description('verify a detached signature: digest, signature, chain at the timestamp, EKU, token, revocation')
    .argument('<file>', 'the signed file')
    .option('--sig <file>', 'the signature (default: FILE.p7s)')
    .option('--bundle <file>', 'trust anchors for the signer (PEM; default: $SIGIL_BUNDLE)')
    .option('--tsa-bundle <file>', 'trust anchors for the TSA (default: the --bundle)')
    .option(
      '--crl <file|url>',
      'CRL to check revocation against, e.g. http://CONTROL-PLANE:9090/crl (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--crl-issuer <file>', 'CA certificate(s) that signed the CRL, if not in the signature (PEM)')
    .option('--signer-name <name>', "require this signer: the certificate's CN or its whole subject")
    .option('--tsa-policy <oid>', 'require this TSA policy')
    .option('--strict-key-compromise', 'a keyCompromise revocation also invalidates signatures timestamped before it')
    .option('--require-timestamp', 'refuse untimestamped signatures')
    .option('--json', 'print the verdict as JSON')
    .action(async (file: string, opts: VerifyFlags) => {
      const bundle = opts.bundle ?? io.env['SIGIL_BUNDLE'];
      if (bundle === undefined)
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'pass --bundle FILE (the trust bundle) or set SIGIL_BUNDLE');
      const { fileDigest, verifyArtifact } = await import('../../control-plane/signing.ts');
      const roots = await readCertificates(io, bundle, 'bundle');
      const tsaRoots = opts.tsaBundle ? await readCertificates(io, opts.tsaBundle, 'TSA bundle') : roots;
      const path = resolve(io.cwd, file);
      const sigPath = resolve(io.cwd, opts.sig ?? `${file}.p7s`);
      let signature: Uint8Array;
      try {
        signature = new Uint8Array(readFileSync(sigPath));
      } catch (err) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `cannot read the signature ${sigPath} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): pass --sig`,
        );
      }
      const crls = await Promise.all(opts.crl.map(async (source) => ({ source, der: await readCrl(io, source) })));
      const verdict = await verifyArtifact({
        signature,
        contentDigest: (digest) => fileDigest(path, digest),
        policy: {
          roots,
          tsaRoots,
          now: Date.now(),
          strictKeyCompromise: opts.strictKeyCompromise === true,
          requireTimestamp: opts.requireTimestamp === true,
          ...(opts.signerName !== undefined ? { signerName: opts.signerName } : {}),
          ...(opts.tsaPolicy !== undefined ? { tsaPolicy: opts.tsaPolicy } : {}),
        },
        crls,
        ...(opts.crlIssuer ? { crlIssuers: await readCertificates(io, opts.crlIssuer, 'CRL issuer file') } : {}),
      });
      if (opts.json) printJson(io, { file: path, signature: sigPath, ...verdict });
      else report(io, path, verdict);
      if (!verdict.valid) {
        throw new SigilError(
          ErrorCode.SIGNATURE_INVALID,
          `signature INVALID: check ${verdict.failed?.check} failed: ${verdict.failed?.detail}`,
          { details: { check: verdict.failed?.check ?? '' } },
        );
      }
    });
}
