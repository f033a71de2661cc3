import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { nodeHttp } from '../../../common/node-http.ts';
import { formatHostPort, type HostPort } from '../../../common/address.ts';
import { ErrorCode, SigilError } from '../../../common/errors.ts';
import type { Logger } from '../../../common/logger.ts';

/**
 * RFC 3161 over HTTP (section 3.4): POST `application/timestamp-query`, answer `application/timestamp-reply`.
 * Bodies are small (a request is ~100 bytes), so anything over the limit is refused before it is read whole; slow
 * clients are cut off by header and request timeouts. `GET /healthz` answers for probes.
 */

export const TIMESTAMP_QUERY = 'application/timestamp-query';
export const TIMESTAMP_REPLY = 'application/timestamp-reply';
const MAX_BODY_BYTES = 16 * 1024;

export interface TsaHttpServerDeps {
  readonly respond: (request: Uint8Array, client: string) => Promise<Uint8Array>;
  readonly logger: Logger;
}

export class TsaHttpServer {
  readonly #server: Server;
  readonly #deps: TsaHttpServerDeps;

  constructor(deps: TsaHttpServerDeps) {
    this.#deps = deps;
    this.#server = nodeHttp.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err }, 'TSA HTTP request failed');
        if (!res.headersSent) plain(res, 500, 'internal error\n');
        else res.destroy();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') return plain(res, 200, 'ok\n');
    if (req.method !== 'POST') return plain(res, 405, `use POST with ${TIMESTAMP_QUERY}\n`, { allow: 'POST' });
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== TIMESTAMP_QUERY) return plain(res, 415, `send the request as ${TIMESTAMP_QUERY}\n`);
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > MAX_BODY_BYTES) return plain(res, 413, `a timestamp query is at most ${MAX_BODY_BYTES} bytes\n`);
    const body = await readBody(req);
    if (body === undefined) return plain(res, 413, `a timestamp query is at most ${MAX_BODY_BYTES} bytes\n`);
    const reply = await this.#deps.respond(body, req.socket.remoteAddress ?? '');
    res.writeHead(200, { 'content-type': TIMESTAMP_REPLY, 'content-length': reply.byteLength });
    res.end(reply);
  }

  async listen(at: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err) =>
        reject(
          new SigilError(ErrorCode.UNAVAILABLE, `cannot listen on ${formatHostPort(at)}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      this.#server.listen(at.port, at.host, () => resolve());
    });
    const address = this.#server.address() as { port: number };
    return { host: at.host, port: address.port };
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

/** The body, or undefined once it grows past the limit (the rest is not read). */
async function readBody(req: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
