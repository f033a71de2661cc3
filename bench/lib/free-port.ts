import { createServer } from 'node:net';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** A loopback TCP port that was free a moment ago, for servers that cannot be told to listen on port 0. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string')
    throw new SigilError(ErrorCode.INTERNAL, 'could not read the port of a loopback listener');
  return address.port;
}
