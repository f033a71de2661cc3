// Child entry: the application behind a proxy in the keep-alive request benchmark. Echoes every byte back on the
// same connection until the client closes. Usage (by upstream-app.ts only): node echo-app.ts
import { createServer } from 'node:net';
import { childEntry, serveOnLoopback } from './node-child.ts';

childEntry('echo app', async () => {
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await serveOnLoopback(server);
});
