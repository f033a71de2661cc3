// Child entry: the application behind the sidecar. Each plaintext connection gets one byte, then the app closes
// its side, as the bare TLS target does over TLS. Usage (by targets.ts only): node one-byte-app.ts
import { createServer } from 'node:net';
import { childEntry } from './node-child.ts';
import type { TargetReady } from './protocol.ts';

const ONE_BYTE = Buffer.from([0x2a]);

childEntry('one-byte app', async () => {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(ONE_BYTE);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.once('SIGTERM', () => process.exit(0));
  process.send?.({ type: 'ready', host: '127.0.0.1', port: address.port } satisfies TargetReady);
});
