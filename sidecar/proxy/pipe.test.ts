import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { FakeClock } from '../../common/clock.ts';
import { Pipe } from './pipe.ts';
import { connectUpstream } from './upstream-socket.ts';
import { nextData, readToEnd } from './proxy-test-kit.ts';

/**
 * Two connected half-open-capable sockets over real loopback TCP. `appLeg`: the connecting side is made as the
 * sidecar makes its connection to the app (connectUpstream), whose reads the pipe takes directly.
 */
async function socketPair(t: Test, appLeg = false): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const options = { host: '127.0.0.1', port: address.port, allowHalfOpen: true };
  const client = appLeg ? connectUpstream({ ...options, noDelay: true }) : connect(options);
  const [serverSide] = await accepted;
  await once(client, 'connect').catch(() => {});
  server.close();
  for (const s of [client, serverSide]) s.on('error', () => {});
  t.teardown(() => {
    client.destroy();
    serverSide.destroy();
  });
  return [client, serverSide];
}

/** app ⇄ [down | Pipe | up] ⇄ far */
async function rig(t: Test, options: { idleTimeoutMs?: number; maxLifetimeMs?: number } = {}) {
  const [app, down] = await socketPair(t);
  const [up, far] = await socketPair(t, true);
  const clock = new FakeClock();
  const flows: string[] = [];
  const pipe = new Pipe(down, up, { clock, ...options, onBytes: (flow, n) => flows.push(`${flow}:${n}`) });
  // What the outer peers see when the pipe tears down: end-of-stream (or a reset).
  const outerEnded = Promise.all(
    [app, far].map((s) => new Promise((resolve) => (s.once('end', resolve), s.once('close', resolve)))),
  );
  return { app, down, up, far, clock, pipe, flows, outerEnded };
}

t.test('pumps bytes both ways and counts them', async (t) => {
  const { app, far, pipe, flows } = await rig(t);
  app.write('hello');
  t.equal(await nextData(far), 'hello');
  far.write('world!');
  t.equal(await nextData(app), 'world!');
  t.equal(pipe.bytesDownstreamToUpstream, 5);
  t.equal(pipe.bytesUpstreamToDownstream, 6);
  t.same(flows, ['downstream_to_upstream:5', 'upstream_to_downstream:6']);
});

t.test('half-close: the side that ended its writing still receives the reply', async (t) => {
  const { app, far, pipe } = await rig(t);
  const farReceived = readToEnd(far);
  const appReceived = readToEnd(app);
  app.end('request');
  t.equal(await farReceived, 'request', 'far side saw the request and then end-of-stream');
  far.end('reply');
  t.equal(await appReceived, 'reply', 'the reply came back after the client had ended its side');
  const result = await pipe.closed;
  t.equal(result.reason, 'done');
  t.equal(result.bytesDownstreamToUpstream, 7);
  t.equal(result.bytesUpstreamToDownstream, 5);
  t.equal(result.endedFirst, 'downstream', 'the app finished sending first');
});

t.test('idle timeout closes both sides; traffic in either direction postpones it', async (t) => {
  const { app, far, down, up, clock, pipe, outerEnded } = await rig(t, { idleTimeoutMs: 1000 });
  clock.advance(600);
  far.write('ping');
  await nextData(app);
  clock.advance(600);
  t.notOk(down.destroyed || up.destroyed, 'traffic at 600 ms kept it open past 1000 ms');
  clock.advance(999);
  const result = await pipe.closed;
  t.equal(result.reason, 'idle_timeout');
  t.ok(down.destroyed && up.destroyed);
  await outerEnded;
});

t.test('max lifetime closes a busy connection', async (t) => {
  const { app, far, clock, pipe } = await rig(t, { idleTimeoutMs: 1000, maxLifetimeMs: 1500 });
  for (let i = 0; i < 3; i++) {
    clock.advance(400);
    app.write('x');
    await nextData(far);
  }
  t.equal(pipe.bytesDownstreamToUpstream, 3);
  clock.advance(300);
  t.equal((await pipe.closed).reason, 'max_lifetime');
});

t.test('an error on one side tears down both', async (t) => {
  const { far, pipe, outerEnded } = await rig(t);
  far.resetAndDestroy();
  const result = await pipe.closed;
  t.equal(result.reason, 'error');
  t.ok(result.error, 'the error is reported');
  await outerEnded;
});

t.test('close() destroys both sides with the given reason', async (t) => {
  const { pipe, outerEnded } = await rig(t);
  pipe.close('closed_by_request');
  pipe.close('shutdown');
  t.equal((await pipe.closed).reason, 'closed_by_request', 'first reason wins');
  await outerEnded;
});

t.test('a socket that is already closed ends the pipe at once', async (t) => {
  const [, down] = await socketPair(t);
  const [up] = await socketPair(t);
  down.destroy();
  await once(down, 'close');
  const pipe = new Pipe(down, up, { clock: new FakeClock() });
  t.equal((await pipe.closed).reason, 'error');
  t.ok(up.destroyed);
});

/** What a reader that never reads lets the pipe hold: Node's default high-water mark plus one read (64 KiB). */
const BUFFER_BOUND = 16 * 1024 + 64 * 1024;

for (const direction of ['app to far', 'far to app'] as const) {
  t.test(
    `backpressure, ${direction}: a reader that stops reading stops the pipe reading, and nothing is lost`,
    async (t) => {
      const { app, far, down, up, pipe } = await rig(t);
      const [writer, reader, source, destination] =
        direction === 'app to far' ? [app, far, down, up] : [far, app, up, down];
      reader.pause();
      // Far more than the loopback socket buffers hold: without backpressure the pipe would read it all into memory.
      const payload = Buffer.alloc(48 * 1024 * 1024);
      for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32BE(i, i);
      const writerDone = new Promise<'writer finished'>((resolve) =>
        writer.end(payload, () => resolve('writer finished')),
      );
      const paused = once(source, 'pause').then(() => 'pipe paused' as const);
      t.equal(await Promise.race([paused, writerDone]), 'pipe paused', 'the pipe paused before taking everything');
      t.ok(
        destination.writableLength <= BUFFER_BOUND,
        `held ${destination.writableLength} bytes, at most ${BUFFER_BOUND}`,
      );
      const moved = direction === 'app to far' ? pipe.bytesDownstreamToUpstream : pipe.bytesUpstreamToDownstream;
      t.ok(moved < payload.length, `${moved} of ${payload.length} bytes moved while the reader was stopped`);
      const chunks: Buffer[] = [];
      reader.on('data', (chunk: Buffer) => chunks.push(chunk));
      const received = once(reader, 'end').then(() => Buffer.concat(chunks));
      reader.resume();
      t.ok((await received).equals(payload), 'every byte arrived, in order, once the reader read again');
    },
  );
}
