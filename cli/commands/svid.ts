import type { Command } from 'commander';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseKeyType } from '../../common/key-type.ts';
import { printJson, type CliIo } from '../io.ts';
import { firstLine } from '../secrets.ts';

interface FetchFlags {
  controlPlane?: string;
  bundle: string;
  token?: string;
  tokenFile?: string;
  spiffeId?: string;
  csr?: string;
  keyType: string;
  out: string;
  json?: boolean;
}

function readCsr(path: string): Uint8Array {
  const bytes = readFileSync(path);
  const text = bytes.toString('latin1');
  const pem = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END/.exec(text);
  return new Uint8Array(pem ? Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64') : bytes);
}

export function registerSvidCommands(program: Command, io: CliIo): void {
  const svid = program.command('svid').description('X.509-SVIDs for workloads without a sidecar');
  svid
    .command('fetch')
    .description('attest with a join token and write svid.pem (leaf + intermediate), key.pem and bundle.pem')
    .option('--control-plane <addr>', 'control plane gRPC address (default: $SIGIL_CONTROL_PLANE or 127.0.0.1:7443)')
    .requiredOption('--bundle <file>', 'trust bundle that authenticates the control plane (bundle.pem from ca init)')
    .option('--token <token>', 'one-time join token (or $SIGIL_JOIN_TOKEN, or --token-file)')
    .option('--token-file <file>', 'file holding the join token')
    .option('--spiffe-id <id>', 'generate a key here and request this identity')
    .option('--csr <file>', 'use this CSR (PEM or DER) instead; no key is written')
    .option('--key-type <type>', 'key type when generating', 'ec-p256')
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print a JSON summary')
    .action(async (opts: FetchFlags) => {
      if ((opts.spiffeId === undefined) === (opts.csr === undefined)) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          'give exactly one of --spiffe-id (a key is generated here) or --csr FILE',
        );
      }
      const token =
        opts.token ?? (opts.tokenFile ? firstLine(opts.tokenFile, 'token file') : io.env['SIGIL_JOIN_TOKEN']);
      if (!token)
        throw new SigilError(
          ErrorCode.TOKEN_INVALID,
          'no join token: pass --token, --token-file or set SIGIL_JOIN_TOKEN (create one with sigil token create)',
        );
      const bundlePem = readFileSync(resolve(io.cwd, opts.bundle), 'utf8');
      const { GrpcIdentityApi } = await import('../../sidecar/identity-client.ts');
      const api = new GrpcIdentityApi({
        address: opts.controlPlane ?? io.env['SIGIL_CONTROL_PLANE'] ?? '127.0.0.1:7443',
        bundlePem: () => bundlePem,
      });
      let keyPem: string | undefined;
      let csr: Uint8Array;
      if (opts.spiffeId !== undefined) {
        const { makeCsr } = await import('../../common/csr-builder.ts');
        const { generateKeyPair, privateKeyPemOf } = await import('../../common/key-pair.ts');
        const keys = await generateKeyPair(parseKeyType(opts.keyType));
        csr = await makeCsr({ spiffeId: opts.spiffeId, keys });
        keyPem = privateKeyPemOf(keys.privateKey);
      } else {
        csr = readCsr(resolve(io.cwd, opts.csr as string));
      }
      const issued = await api.attest(token, csr);
      const { derToPem } = await import('../../common/trust-bundle.ts');
      const out = resolve(io.cwd, opts.out);
      mkdirSync(out, { recursive: true, mode: 0o700 });
      writeFileSync(join(out, 'svid.pem'), issued.chain.map(derToPem).join(''), { mode: 0o644 });
      writeFileSync(join(out, 'bundle.pem'), issued.trust.roots.map(derToPem).join(''), { mode: 0o644 });
      if (keyPem !== undefined) {
        // A new file created 0600, then renamed over key.pem: writing into an existing 0644 key.pem would keep its
        // mode and leave the new private key world-readable (issue 21).
        const temp = join(out, `.key.pem.${process.pid}.tmp`);
        writeFileSync(temp, keyPem, { mode: 0o600, flag: 'wx' });
        renameSync(temp, join(out, 'key.pem'));
      }
      const summary = {
        out,
        files: ['svid.pem', 'bundle.pem', ...(keyPem !== undefined ? ['key.pem'] : [])],
        trustDomain: issued.trust.trustDomain,
      };
      if (opts.json) return printJson(io, summary);
      io.stdout.write(`wrote ${summary.files.join(', ')} to ${out}\n`);
    });
}
