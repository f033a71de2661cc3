import type { Server } from 'node:http';
import { nodeHttp } from './node-http.ts';
import { routeAdminRequest, type AdminRouteDeps } from './admin-routes.ts';
import type { HostPort } from './address.ts';
import type { Logger } from './logger.ts';

/**
 * The plain-HTTP operations listener every Sigil process serves (health, readiness, metrics, /crl). It is the one
 * socket-owning module in common/: both components need it rule-for-rule, and it holds no Sigil logic.
 */
export class HttpListener {
  readonly #server: Server;
  readonly #logger: Logger;

  constructor(deps: AdminRouteDeps & { logger: Logger }) {
    this.#logger = deps.logger;
    this.#server = nodeHttp.createServer((req, res) => {
      routeAdminRequest(req.method ?? 'GET', req.url ?? '/', deps).then(
        (r) => {
          res.writeHead(r.status, { 'content-type': r.contentType });
          res.end(req.method === 'HEAD' ? undefined : r.body);
        },
        (err: unknown) => {
          this.#logger.error({ err }, 'operations endpoint failed');
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"internal error"}\n');
        },
      );
    });
  }

  async listen(at: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(at.port, at.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
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
