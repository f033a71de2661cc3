import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { printJson, type CliIo } from '../io.ts';

interface SocketFlags {
  socket?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** --socket, else $SPIFFE_ENDPOINT_SOCKET, else the default path. */
async function client(io: CliIo, opts: SocketFlags) {
  const { WorkloadApiClient, socketPathOf, ENDPOINT_ENV, DEFAULT_SOCKET } = await import(
    '../../sidecar/workload-api-client.ts'
  );
  const endpoint = opts.socket ?? io.env[ENDPOINT_ENV] ?? DEFAULT_SOCKET;
  return new WorkloadApiClient({ socketPath: socketPathOf(endpoint) });
}

export function registerJwtCommands(program: Command, io: CliIo): void {
  const jwt = program
    .command('jwt')
    .description('JWT-SVIDs from the SPIFFE Workload API of the sidecar beside this workload');
  jwt
    .command('fetch')
    .description('print a JWT-SVID of this workload for the audience(s)')
    .option('--audience <aud>', 'audience the token is for (repeat for several)', collect, [])
    .option('--socket <path>', 'Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET or /run/sigil/workload.sock)')
    .option('--json', 'print {"spiffeId", "token"}')
    .action(async (opts: SocketFlags & { audience: string[] }) => {
      if (opts.audience.length === 0)
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'give at least one --audience (who will accept the token)');
      const api = await client(io, opts);
      try {
        const svid = await api.fetchJwtSvid(opts.audience);
        if (opts.json) printJson(io, svid);
        else io.stdout.write(`${svid.token}\n`);
      } finally {
        api.close();
      }
    });
  jwt
    .command('validate')
    .description('validate a JWT-SVID for an audience through the sidecar; prints the SPIFFE ID it names')
    .argument('<token>', 'the JWT-SVID, or - to read it from standard input (keeps it out of the process list)')
    .requiredOption('--audience <aud>', 'the audience the token must name (yours)')
    .option('--socket <path>', 'Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET or /run/sigil/workload.sock)')
    .option('--json', 'print {"spiffeId", "claims"}')
    .action(async (tokenArg: string, opts: SocketFlags & { audience: string }) => {
      const token = tokenArg === '-' ? readFileSync(0, 'utf8').trim() : tokenArg;
      if (token === '') throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'no token given');
      const api = await client(io, opts);
      try {
        const valid = await api.validateJwtSvid(token, opts.audience);
        if (opts.json) printJson(io, valid);
        else io.stdout.write(`${valid.spiffeId}\n`);
      } finally {
        api.close();
      }
    });
}
