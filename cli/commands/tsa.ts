import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { join, resolve } from 'node:path';
import { formatHostPort, parseHostPort } from '../../common/address.ts';
import { parseDuration } from '../../common/duration.ts';
import { systemClock } from '../../common/clock.ts';
import { type CliIo, printJson, printTable } from '../io.ts';
import { type TokenKeyFlags, withTokenKeyOptions } from '../token-key.ts';
import { readCertificates, signerKey } from './sign.ts';
import { issueSignerCertificate, type SignerCertFlags, withSignerCertOptions } from './signing.ts';

interface RunFlags extends TokenKeyFlags {
  cert: string;
  key?: string;
  listen: string;
  stateDir: string;
  policy?: string;
  acceptPolicy: string[];
  accuracy: string;
  passphraseFile?: string;
}

const TSA_DB = 'tsa.db';

export function registerTsaCommands(program: Command, io: CliIo): void {
  const tsa = program.command('tsa').description('an RFC 3161 time-stamp authority with its own certificate');
  withSignerCertOptions(tsa.command('cert'), '365d')
    .description('issue a TSA certificate (EKU timeStamping only, critical), recorded in the inventory')
    .option('--json', 'print a JSON summary')
    .action((opts: SignerCertFlags) => issueSignerCertificate(io, opts, 'timestamping'));

  withTokenKeyOptions(tsa.command('run'))
    .description('serve RFC 3161 over HTTP until SIGTERM or SIGINT; every token is recorded in --state-dir')
    .requiredOption('--cert <file>', 'TSA certificate chain (PEM, from sigil tsa cert)')
    .option('--key <file>', 'its private key (encrypted keys take $SIGIL_SIGNING_KEY_PASSPHRASE)')
    .option('--listen <host:port>', 'HTTP address', '127.0.0.1:3161')
    .requiredOption('--state-dir <dir>', 'where the serial counter and the token log live (tsa.db)')
    .option('--policy <oid>', 'policy OID written into tokens (default: a UUID-derived OID; set your own)')
    .option(
      '--accept-policy <oid>',
      'a further policy requests may ask for (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--accuracy <duration>', 'accuracy stated in tokens', '1s')
    .option('--passphrase-file <file>', 'file with the key passphrase')
    .action(async (opts: RunFlags) => {
      const { DEFAULT_TSA_POLICY, SqliteTimestampLog, TimestampAuthority, TsaHttpServer } = await import(
        '../../control-plane/signing.ts'
      );
      const { createLogger } = await import('../../common/logger.ts');
      const logger = createLogger({ component: 'tsa' });
      const policy = opts.policy ?? DEFAULT_TSA_POLICY;
      const chainDer = await readCertificates(io, opts.cert, 'certificate file');
      const opened = await signerKey(io, opts);
      const key = opened.key;
      const listen = parseHostPort(opts.listen, '--listen');
      const stateDir = resolve(io.cwd, opts.stateDir);
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const log = new SqliteTimestampLog({ path: join(stateDir, TSA_DB) });
      try {
        const authority = new TimestampAuthority(
          {
            chainDer,
            policy,
            acceptedPolicies: opts.acceptPolicy,
            accuracyMs: parseDuration(opts.accuracy),
          },
          { key, log, clock: systemClock, logger },
        );
        const server = new TsaHttpServer({ respond: (body, client) => authority.respond(body, client), logger });
        const bound = await server.listen(listen);
        writeFileSync(
          join(stateDir, 'tsa.json'),
          `${JSON.stringify({ http: formatHostPort(bound), pid: process.pid }, null, 2)}\n`,
          { mode: 0o644 },
        );
        logger.info(
          {
            http: formatHostPort(bound),
            policy,
            serial: authority.certificate.serial,
            subject: authority.certificate.subject,
            not_after: new Date(authority.certificate.notAfter).toISOString(),
          },
          'tsa started',
        );
        await new Promise<void>((done) => {
          process.once('SIGTERM', done);
          process.once('SIGINT', done);
        });
        await server.close();
        logger.info('tsa stopped');
      } finally {
        log.close();
        await opened.close();
      }
    });

  tsa
    .command('tokens')
    .description('list the tokens a TSA issued, newest first')
    .requiredOption('--state-dir <dir>', 'the TSA state directory')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: { stateDir: string; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isSafeInteger(limit) || limit < 1)
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `--limit must be a whole number of at least 1, got ${opts.limit}`,
        );
      const path = join(resolve(io.cwd, opts.stateDir), TSA_DB);
      if (!existsSync(path))
        throw new SigilError(ErrorCode.NOT_FOUND, `no TSA log at ${path}: pass the --state-dir of sigil tsa run`);
      const { SqliteTimestampLog } = await import('../../control-plane/signing.ts');
      const log = new SqliteTimestampLog({ path });
      try {
        const rows = (await log.list({ limit })).map((r) => ({
          ...r,
          genTime: new Date(r.genTime).toISOString(),
        }));
        if (opts.json) return printJson(io, rows);
        printTable(
          io,
          ['SERIAL', 'TIME', 'POLICY', 'CLIENT', 'IMPRINT'],
          rows.map((r) => [r.serial, r.genTime, r.policy, r.client, r.imprint]),
        );
      } finally {
        log.close();
      }
    });
}
