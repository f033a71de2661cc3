// Child entry: one half of the plain Node TLS pair of bench/mesh, the least a Node mesh proxy does, so the sidecar
// pair can be compared with Node's own cost. Same SVIDs, TLS 1.3, client certificate required and verified against
// the bundle; the outbound half keeps the newest session tickets and offers them, and checks the server's URI SAN
// (Node's subjectaltname string). No SVID profile, revocation, policy, metrics, limits or connection tracking.
// Usage (by node-path.ts only):
//   node node-tls-pair-child.ts inbound  <chain.pem> <key.pem> <bundle.pem> <app port>
//   node node-tls-pair-child.ts outbound <chain.pem> <key.pem> <bundle.pem> <inbound port> <expected ID> <tickets>
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer } from 'node:tls';
import { childEntry, serveOnLoopback } from '../handshake/node-child.ts';

/** Asked by the parent over IPC: sessions established so far by the outbound half, and how many resumed. */
export type NodePairCounts = { readonly type: 'counts'; readonly handshakes: number; readonly resumed: number };

function splice(a: Socket, b: Socket): void {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

childEntry('node:tls mesh proxy', async () => {
  const [mode, chainPath, keyPath, bundlePath, port, expected, tickets] = process.argv.slice(2);
  const [cert, key, ca] = [chainPath, keyPath, bundlePath].map((p) => readFileSync(p ?? '', 'utf8'));
  const tls = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
  if (mode === 'inbound') {
    const server = createTlsServer({ cert, key, ca, ...tls, requestCert: true, rejectUnauthorized: true });
    server.on('secureConnection', (socket) => {
      const app = netConnect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
      splice(socket, app);
    });
    server.on('tlsClientError', () => undefined);
    await serveOnLoopback(server);
    return;
  }
  const context = createSecureContext({ cert, key, ca, ...tls });
  const keep = Number(tickets);
  const sessions: Buffer[] = [];
  let handshakes = 0;
  let resumed = 0;
  const san = `URI:${expected}`;
  const server = createNetServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = tlsConnect({
      host: '127.0.0.1',
      port: Number(port),
      secureContext: context,
      ...(sessions[0] ? { session: sessions[0] } : {}),
      rejectUnauthorized: true,
      checkServerIdentity: (_host, c) =>
        c.subjectaltname === san ? undefined : new Error(`expected ${san}, got ${c.subjectaltname}`),
    });
    if (keep > 0)
      upstream.on('session', (ticket: Buffer) => {
        sessions.unshift(ticket);
        sessions.length = Math.min(sessions.length, keep);
      });
    upstream.once('secureConnect', () => {
      handshakes++;
      if (upstream.isSessionReused()) resumed++;
      splice(client, upstream);
      client.resume();
    });
    upstream.once('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
  });
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'counts') process.send?.({ type: 'counts', handshakes, resumed } satisfies NodePairCounts);
  });
  await serveOnLoopback(server);
});
