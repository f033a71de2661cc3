// Child entry: the baseline, a bare node:tls server with the sidecar's own SVID, key and bundle, requiring and
// verifying a client certificate under TLS 1.3 like the inbound listener, and doing what the app behind a proxy
// does (one byte and close, or echo). No SVID profile check, authorization or proxying: exactly what the sidecar
// adds is missing here. Usage (by targets.ts only): node bare-tls-target.ts <chain.pem> <key.pem> <bundle.pem> <one-byte|echo>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
import { childEntry, serveOnLoopback } from './node-child.ts';

const ONE_BYTE = Buffer.from([0x2a]);

childEntry('bare node:tls target', async () => {
  const [chain, key, bundle] = process.argv.slice(2, 5).map((path) => readFileSync(path, 'utf8'));
  const echo = process.argv[5] === 'echo';
  const server = createServer({
    cert: chain,
    key,
    ca: bundle,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  });
  server.on('secureConnection', (socket) => {
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    if (echo) socket.pipe(socket);
    else socket.end(ONE_BYTE);
  });
  server.on('tlsClientError', () => undefined);
  await serveOnLoopback(server);
});
