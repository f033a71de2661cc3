// Child entry: the application behind a proxy in the keep-alive request benchmark. Echoes every byte back on the
// same connection until the client closes. Usage (by upstream-app.ts only): node echo-app.ts
import { createServer } from 'node:net';
import { childEntry } from './node-child.ts';
import type { TargetReady } from './protocol.ts';

childEntry('echo app', async () => {
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
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
