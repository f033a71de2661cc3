import { connect, type TLSSocket } from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';

export interface ClientCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Connections held open by the benchmark; closing them waits until every socket has closed. */
export interface IdleConnections {
  readonly count: number;
  close(): Promise<void>;
}

const BATCH = 50;

/**
 * One mTLS connection with a round trip through the server to the echo app behind it, so that the server holds both
 * legs (client and upstream) before it is measured. The server's identity is not checked: SVIDs name no host.
 */
function openOne(port: number, creds: ClientCredentials): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...creds,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => socket.write('x'));
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new SigilError(ErrorCode.UNAVAILABLE, `127.0.0.1:${port} closed a connection`)));
  });
}

/** Opens `count` idle mTLS connections to 127.0.0.1:`port`, `BATCH` handshakes at a time. */
export async function openIdleConnections(
  port: number,
  count: number,
  creds: ClientCredentials,
): Promise<IdleConnections> {
  const sockets: TLSSocket[] = [];
  try {
    while (sockets.length < count) {
      const batch = Math.min(BATCH, count - sockets.length);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openOne(port, creds)))));
    }
  } catch (err) {
    for (const socket of sockets) socket.destroy();
    throw err;
  }
  for (const socket of sockets) socket.removeAllListeners('close').on('error', () => {});
  return {
    count: sockets.length,
    close: async () => {
      // A socket the server already closed (an idle timeout on a slow run) emits no second 'close'.
      await Promise.all(
        sockets.map((socket) =>
          socket.closed ? undefined : new Promise<void>((resolve) => socket.once('close', () => resolve()).destroy()),
        ),
      );
    },
  };
}
