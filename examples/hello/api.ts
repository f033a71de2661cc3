import { createServer, type Server } from 'node:http';

/** The `api` service: a plain HTTP app that knows nothing about TLS; its sidecar terminates mTLS in front of it. */
export function startApi(options: { host?: string; port?: number } = {}): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ service: 'api', path: req.url, message: 'hello from api' })}\n`);
  });
  // Node closes an idle keep-alive connection after 5 s; the demo holds one open across a revocation, which over the
  // gRPC fallback can take longer than that to arrive.
  server.keepAliveTimeout = 120_000;
  return new Promise((resolve) =>
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => resolve(server)),
  );
}

if (import.meta.main) {
  const server = await startApi({
    host: process.env['API_HOST'] ?? '127.0.0.1',
    port: Number(process.env['API_PORT'] ?? 8080),
  });
  process.once('SIGTERM', () => server.close());
  console.log(`api listening on ${JSON.stringify(server.address())}`);
}
