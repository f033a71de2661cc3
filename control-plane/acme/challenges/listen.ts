import type { Server } from 'node:net';
import type { HostPort } from '../../../common/address.ts';

/** Binds a challenge listener; resolves with the port actually bound (port 0 in tests). */
export async function listenOn(server: Server, at: HostPort): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { host: at.host, port: (server.address() as { port: number }).port };
}

/** Stops listening and drops open connections; a no-op for a server that never listened. */
export async function closeServer(server: Server & { closeAllConnections?: () => void }): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
