// Child entry of bench/slowloris.ts: the sidecar's InboundListener (allow-all authoriser) in front of an echo app,
// on its own process so that its memory is measured alone. Usage (by bench/slowloris.ts only, with an IPC channel):
//   node slowloris-listener.ts <chain.pem> <key.pem> <bundle.pem> <maxPending> <maxPendingPerSource>
// Messages in: 'sample' (answered with process.memoryUsage() and the pending-handshake count), 'settle' (answered
// once no handshake is pending). Out first: { type: 'ready', port }.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { silentLogger } from '../../common/logger.ts';
import { CredentialSource, InboundListener, resolveTlsSettings, svidPeerVerifier } from '../../sidecar/index.ts';
import { BENCH_TRUST_DOMAIN, SERVER_ID } from '../handshake/bench-pki.ts';

const [chainPath, keyPath, bundlePath, maxPending, maxPerSource] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const send = (message: unknown): void => void process.send?.(message);
const app = createServer((socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
const appAddress = app.address();
if (!appAddress || typeof appAddress === 'string') throw new Error('echo app has no address');
const certChainPem = readFileSync(chainPath, 'utf8');
const logger = silentLogger();
const credentials = new CredentialSource({ clientTls: resolveTlsSettings(), logger });
credentials.update({
  certChainPem,
  keyPem: readFileSync(keyPath, 'utf8'),
  bundlePem: readFileSync(bundlePath, 'utf8'),
  spiffeId: SERVER_ID,
  serial: new X509Certificate(certChainPem).serialNumber,
  notAfter: Date.parse(new X509Certificate(certChainPem).validTo),
});
const listener = new InboundListener(
  {
    listen: { host: '127.0.0.1', port: 0 },
    forward: { host: '127.0.0.1', port: appAddress.port },
    idleTimeoutMs: 30_000,
    maxConnections: 1_000_000,
    maxPendingHandshakes: Number(maxPending),
    maxPendingHandshakesPerSource: Number(maxPerSource),
  },
  { credentials, verifyPeer: svidPeerVerifier(BENCH_TRUST_DOMAIN, 'client'), logger },
);
await listener.start();
process.on('message', (message) => {
  if (message === 'sample') {
    send({ type: 'sample', memory: process.memoryUsage(), pending: listener.pendingHandshakes().count });
  } else if (message === 'settle') {
    void listener.pendingHandshakes().none.then(() => send({ type: 'settled', refusals: listener.refusals() }));
  }
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', port: listener.address().port });
