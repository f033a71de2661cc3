import { createServer, request, type Server } from 'node:http';

/** GET via the local outbound sidecar: plaintext to loopback, mTLS from there on. */
export function callThrough(
  outbound: { host: string; port: number },
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: outbound.host, port: outbound.port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `web` service: answers /call by calling `api` through its outbound sidecar. */
export function startWeb(options: {
  host?: string;
  port?: number;
  apiVia: { host: string; port: number };
}): Promise<Server> {
  const server = createServer((req, res) => {
    callThrough(options.apiVia, '/greeting').then(
      (r) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ service: 'web', upstreamStatus: r.status, upstream: JSON.parse(r.body) as unknown })}\n`,
        );
      },
      (err: Error) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ service: 'web', error: `api unreachable through the sidecar: ${err.message}` })}\n`,
        );
      },
    );
    void req;
  });
  return new Promise((resolve) =>
    server.listen(options.port ?? 8081, options.host ?? '127.0.0.1', () => resolve(server)),
  );
}

if (import.meta.main) {
  const apiVia = {
    host: process.env['API_VIA_HOST'] ?? '127.0.0.1',
    port: Number(process.env['API_VIA_PORT'] ?? 15001),
  };
  const server = await startWeb({
    host: process.env['WEB_HOST'] ?? '127.0.0.1',
    port: Number(process.env['WEB_PORT'] ?? 8081),
    apiVia,
  });
  process.once('SIGTERM', () => server.close());
  console.log(`web listening on ${JSON.stringify(server.address())}`);
}
