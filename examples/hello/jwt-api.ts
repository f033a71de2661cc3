import { createServer, type Server } from 'node:http';
import { ENDPOINT_ENV, socketPathOf, WorkloadApiClient } from '../../sidecar/workload-api-client.ts';

/**
 * A plain-HTTP endpoint that authenticates callers by JWT-SVID (`Authorization: Bearer …`) instead of mTLS: it asks
 * its own sidecar's Workload API (ValidateJWTSVID) whether the token is good for `audience`, and answers 401 if not.
 */
export function startJwtApi(options: {
  socketPath: string;
  audience: string;
  host?: string;
  port?: number;
}): Promise<Server> {
  const workloadApi = new WorkloadApiClient({ socketPath: options.socketPath });
  const server = createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const answer = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (!token) return answer(401, { error: 'a JWT-SVID is required (Authorization: Bearer)' });
    workloadApi.validateJwtSvid(token, options.audience).then(
      (valid) => answer(200, { service: 'api', caller: valid.spiffeId, message: 'hello, JWT-SVID holder' }),
      (err: Error) => answer(401, { error: err.message }),
    );
  });
  server.on('close', () => workloadApi.close());
  return new Promise((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve(server)));
}

if (import.meta.main) {
  const endpoint = process.env[ENDPOINT_ENV];
  const audience = process.env['JWT_AUDIENCE'];
  if (!endpoint || !audience)
    throw new Error(
      `set ${ENDPOINT_ENV} (the api sidecar's Workload API socket) and JWT_AUDIENCE (the api's SPIFFE ID)`,
    );
  const server = await startJwtApi({
    socketPath: socketPathOf(endpoint),
    audience,
    host: process.env['JWT_API_HOST'] ?? '127.0.0.1',
    port: Number(process.env['JWT_API_PORT'] ?? 8082),
  });
  process.once('SIGTERM', () => server.close());
  console.log(`jwt-api listening on ${JSON.stringify(server.address())}`);
}
