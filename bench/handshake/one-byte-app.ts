// Child entry: the application behind the sidecar. Each plaintext connection gets one byte, then the app closes
// its side, as the bare TLS target does over TLS. Usage (by targets.ts only): node one-byte-app.ts
import { createServer } from 'node:net';
import { childEntry, serveOnLoopback } from './node-child.ts';

const ONE_BYTE = Buffer.from([0x2a]);

childEntry('one-byte app', async () => {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(ONE_BYTE);
  });
  await serveOnLoopback(server);
});
