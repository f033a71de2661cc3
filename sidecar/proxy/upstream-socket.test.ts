import t from 'tap';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connectUpstream } from './upstream-socket.ts';

async function server(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = createServer({ allowHalfOpen: true }, onSocket);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

t.test('every byte arrives once and in order, also across reads larger than the shared buffer, then end', async (t) => {
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
  const s = await server((socket) => socket.end(payload));
  t.teardown(s.close);
  const socket = connectUpstream({ host: '127.0.0.1', port: s.port, allowHalfOpen: true, noDelay: true });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'end');
  socket.destroy();
  t.ok(chunks.length > 1, 'several reads');
  // Views of the shared read buffer kept until now would have been overwritten by later reads.
  t.ok(Buffer.concat(chunks).equals(payload));
});

t.test('two sockets reading at once keep their own bytes', async (t) => {
  const s = await server((socket) => socket.once('data', (name: Buffer) => socket.end(Buffer.alloc(100_000, name[0]))));
  t.teardown(s.close);
  const read = async (letter: string) => {
    const socket = connectUpstream({ host: '127.0.0.1', port: s.port, allowHalfOpen: true, noDelay: true });
    socket.write(letter);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'end');
    socket.destroy();
    return Buffer.concat(chunks);
  };
  const [a, b] = await Promise.all([read('a'), read('b')]);
  t.ok(a.equals(Buffer.alloc(100_000, 'a')));
  t.ok(b.equals(Buffer.alloc(100_000, 'b')));
});

t.test('half-close: ending our side still lets the reply through; a paused reader loses nothing', async (t) => {
  const s = await server((socket) => {
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    socket.on('end', () => socket.end(Buffer.concat([Buffer.from('echo:'), ...got])));
  });
  t.teardown(s.close);
  const socket = connectUpstream({ host: '127.0.0.1', port: s.port, allowHalfOpen: true, noDelay: true });
  socket.end('hello');
  socket.pause();
  await once(socket, 'readable');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  await once(socket, 'end');
  socket.destroy();
  t.equal(Buffer.concat(chunks).toString(), 'echo:hello');
});
