import { createServer, type Server } from 'node:http';
import { WorkloadApiClient } from '../../sidecar/workload-api-client.ts';

/**
 * A plain-HTTP endpoint that authenticates callers by JWT-SVID (`Authorization: Bearer …`) instead of mTLS: it asks
 * its own sidecar's Workload API (ValidateJWTSVID) whether the token is good for `audience`, and answers 401 if not.
 */
export function startJwtApi(options: { socketPath: string; audience: string; port?: number }): Promise<Server> {
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
  return new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve(server)));
}
