// Child entry: the least a Node TLS proxy does, for the sidecar to be compared with: a node:tls server with the same
// SVID, TLS 1.3, client certificate required and verified against the bundle, each connection piped to the app with
// net.connect. No SPIFFE ID, revocation, policy, metrics, limits or connection tracking: what the sidecar costs on
// top of this is Sigil's own. Usage (by targets.ts only): node node-proxy-target.ts <chain.pem> <key.pem> <bundle.pem> <app port>
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:tls';
import { childEntry, serveOnLoopback } from './node-child.ts';

childEntry('node:tls proxy target', async () => {
  const [chain, key, bundle] = process.argv.slice(2, 5).map((path) => readFileSync(path, 'utf8'));
  const appPort = Number(process.argv[5]);
  const server = createServer({
    cert: chain,
    key,
    ca: bundle,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    allowHalfOpen: true,
  });
  server.on('secureConnection', (socket) => {
    const app = connect({ host: '127.0.0.1', port: appPort, allowHalfOpen: true, noDelay: true });
    socket.setNoDelay(true);
    socket.on('error', () => app.destroy());
    app.on('error', () => socket.destroy());
    socket.pipe(app);
    app.pipe(socket);
  });
  server.on('tlsClientError', () => undefined);
  await serveOnLoopback(server);
});
