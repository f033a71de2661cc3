// Child entry: the baseline, a bare node:tls server with the sidecar's own SVID, key and bundle, requiring and
// verifying a client certificate under TLS 1.3 like the inbound listener, and doing what the app behind a proxy
// does (one byte and close, or echo). No SVID profile check, authorization or proxying: exactly what the sidecar
// adds is missing here. Usage (by targets.ts only): node bare-tls-target.ts <chain.pem> <key.pem> <bundle.pem> <one-byte|echo>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
import { childEntry } from './node-child.ts';
import type { TargetReady } from './protocol.ts';

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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.once('SIGTERM', () => process.exit(0));
  process.send?.({ type: 'ready', host: '127.0.0.1', port: address.port } satisfies TargetReady);
});
