import type { Server } from 'node:http';
import { nodeHttp } from '../../../common/node-http.ts';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPort } from '../../../common/address.ts';
import { ErrorCode, SigilError } from '../../../common/errors.ts';
import { closeServer, listenOn } from './listen.ts';
import type { ChallengeSolver, ChallengeTask } from './challenge-solver.ts';

const PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * Sigil's own http-01 responder (RFC 8555 8.3): serves `/.well-known/acme-challenge/<token>` for the tokens of
 * challenges in flight and 404 for anything else. Tokens are public by design; nothing else is served.
 */
export class Http01Listener {
  readonly #tokens = new Map<string, string>();
  readonly #server: Server;

  constructor() {
    this.#server = nodeHttp.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const token = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
      const answer = req.method === 'GET' || req.method === 'HEAD' ? this.#tokens.get(token) : undefined;
      if (answer === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : answer);
    });
  }

  listen(at: HostPort): Promise<HostPort> {
    return listenOn(this.#server, at);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }

  solver(): ChallengeSolver {
    return {
      type: 'http-01',
      present: async (task) => {
        if (!this.#server.listening) {
          throw new SigilError(
            ErrorCode.ACME_CHALLENGE_SETUP,
            `http-01 for ${task.identifier} needs Sigil's challenge listener: set acme.http01.listen in the control plane's configuration, or give the certificate a webroot`,
          );
        }
        this.#tokens.set(task.token, task.keyAuthorization);
      },
      cleanup: async (task) => {
        this.#tokens.delete(task.token);
      },
    };
  }
}

/** http-01 through a web server the operator runs: the answer is written under `<webroot>/.well-known/acme-challenge/`. */
export function webrootSolver(webroot: string): ChallengeSolver {
  const fileOf = (task: ChallengeTask) => {
    if (!TOKEN.test(task.token)) {
      throw new SigilError(
        ErrorCode.ACME_PROBLEM,
        `the ACME server sent a malformed challenge token for ${task.identifier}`,
      );
    }
    return join(webroot, '.well-known', 'acme-challenge', task.token);
  };
  return {
    type: 'http-01',
    async present(task) {
      const file = fileOf(task);
      try {
        await mkdir(join(webroot, '.well-known', 'acme-challenge'), { recursive: true, mode: 0o755 });
        await writeFile(file, task.keyAuthorization, { mode: 0o644 });
      } catch (err) {
        throw new SigilError(
          ErrorCode.ACME_CHALLENGE_SETUP,
          `cannot write the http-01 answer for ${task.identifier} into webroot ${webroot} (${(err as NodeJS.ErrnoException).code ?? 'error'}): check that the directory exists and the control plane may write to it`,
          { cause: err },
        );
      }
    },
    async cleanup(task) {
      await rm(fileOf(task), { force: true });
    },
  };
}
