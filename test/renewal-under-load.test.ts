import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';

// Issue 3: with a 20-second SVID TTL, two minutes of new connections plus long-lived ones see zero failed handshakes
// and zero dropped connections while both sidecars renew (the serial changes at least four times).
// SIGIL_SOAK_MS shortens the run for local iterations; CI runs the full two minutes.
const SOAK_MS = Number(process.env['SIGIL_SOAK_MS'] ?? 120_000);
const LONG_LIVED = 4;
const NEW_CONNECTION_WORKERS = 3;

function echoServer(): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** One request/response over a fresh connection through the outbound sidecar. */
function oneShot(port: number, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let got = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (c: string) => { got += c; });
    socket.on('end', () => (got === payload ? resolve() : reject(new Error(`echo mismatch: ${JSON.stringify(got.slice(0, 40))}`))));
    socket.on('error', reject);
  });
}

/** A connection that keeps exchanging messages until told to stop; any error or early close counts as a drop. */
function longLived(port: number, shouldStop: () => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let exchanged = 0;
    let expected = '';
    let buffer = '';
    const next = () => {
      if (shouldStop()) { socket.end(); return resolve(exchanged); }
      expected = `ping-${exchanged}\n`;
      socket.write(expected);
    };
    socket.setEncoding('utf8');
    socket.on('connect', next);
    socket.on('data', (c: string) => {
      buffer += c;
      if (buffer.length < expected.length) return;
      if (buffer !== expected) return reject(new Error(`long-lived echo mismatch after ${exchanged}`));
      buffer = '';
      exchanged++;
      setTimeout(next, 50);
    });
    socket.on('error', reject);
    socket.on('close', () => { if (!shouldStop()) reject(new Error(`long-lived connection closed after ${exchanged} exchanges`)); });
  });
}

t.test('renewal under load: zero failed handshakes, zero dropped connections', { timeout: SOAK_MS + 60_000 }, async (t) => {
  const cp = await startControlPlane({ svidTtl: '20s' });
  const app = await echoServer();
  t.teardown(async () => { app.close(); await cp.stop(); });
  const ids = { api: 'spiffe://example.org/ns/soak/sa/api', web: 'spiffe://example.org/ns/soak/sa/web' };
  const sidecarFor = async (spiffeId: string, yaml: string[]) => {
    const running = await startSidecar(cp, { spiffeId, yaml });
    t.teardown(running.stop);
    return running;
  };
  const api = await sidecarFor(ids.api, [`inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${(app.address() as { port: number }).port} }`]);
  const inbound = api.addresses.inbound[0]!;
  const web = await sidecarFor(ids.web, [`outbound:\n  - { listen: 127.0.0.1:0, upstream: "${inbound.host}:${inbound.port}", expect: ${ids.api} }`]);
  const outboundPort = web.addresses.outbound[0]!.port;

  const serials = { api: new Set<string>(), web: new Set<string>() };
  api.sidecar.credentials.subscribe((c) => serials.api.add(c.material.serial));
  web.sidecar.credentials.subscribe((c) => serials.web.add(c.material.serial));

  const deadline = Date.now() + SOAK_MS;
  const stop = () => Date.now() >= deadline;
  const failures: string[] = [];
  let oneShots = 0;
  const worker = async (n: number) => {
    while (!stop()) {
      try {
        await oneShot(outboundPort, `hello ${n}-${oneShots}`);
        oneShots++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const results = await Promise.allSettled([
    ...Array.from({ length: LONG_LIVED }, () => longLived(outboundPort, stop)),
    ...Array.from({ length: NEW_CONNECTION_WORKERS }, (_, n) => worker(n)),
  ]);
  const dropped = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
  t.same(failures.slice(0, 5), [], `no failed handshakes among ${oneShots + failures.length} new connections`);
  t.equal(failures.length, 0);
  t.same(dropped, [], `no dropped long-lived connections (${LONG_LIVED})`);
  t.ok(oneShots > 100, `a real stream of new connections went through (${oneShots})`);
  const minimumRotations = Math.floor((SOAK_MS / 20_000) * (4 / 6));
  t.ok(serials.api.size - 1 >= minimumRotations, `api serial changed ${serials.api.size - 1} times (want >= ${minimumRotations})`);
  t.ok(serials.web.size - 1 >= minimumRotations, `web serial changed ${serials.web.size - 1} times (want >= ${minimumRotations})`);
});
