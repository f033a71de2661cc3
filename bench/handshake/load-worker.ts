// Child entry: one load-client process. Keeps `concurrency` connections going back to back against one target: each
// a new TCP connection with a TLS 1.3 mTLS handshake (the client SVID), one byte read, close. In `resumed` mode each
// connection offers the newest session ticket its slot received, and `isSessionReused()` tells whether the server
// took it. Counts are cumulative since `start`; the parent diffs snapshots around its measuring window.
// Usage (by load-client.ts only): node load-worker.ts <chain.pem> <key.pem> <bundle.pem>
import { readFileSync } from 'node:fs';
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import { childEntry } from './node-child.ts';
import type { HandshakeMode, LoadCounts, LoadReply, LoadRequest } from './protocol.ts';

interface Run {
  readonly host: string;
  readonly port: number;
  readonly mode: HandshakeMode;
  handshakes: number;
  resumed: number;
  readonly failed: Record<string, number>;
  inFlight: number;
  running: boolean;
  onIdle: (() => void) | undefined;
}

function reply(message: LoadReply): void {
  process.send?.(message);
}

function countsOf(run: Run | undefined): LoadCounts {
  return run
    ? { handshakes: run.handshakes, resumed: run.resumed, failed: { ...run.failed } }
    : { handshakes: 0, resumed: 0, failed: {} };
}

/** One connection slot: connects again as soon as its previous connection closed, while the run lasts. */
function slot(run: Run, context: SecureContext): void {
  let session: Buffer | undefined;
  const next = (): void => {
    if (!run.running) {
      if (--run.inFlight === 0) run.onIdle?.();
      return;
    }
    let gotByte = false;
    let reused = false;
    let failure: string | undefined;
    const socket = connect({
      host: run.host,
      port: run.port,
      secureContext: context,
      ...(run.mode === 'resumed' && session ? { session } : {}),
      // The server is verified against the bundle; its SPIFFE ID is not the point of this measurement.
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
    });
    socket.on('session', (ticket: Buffer) => {
      session = ticket;
    });
    socket.on('data', () => {
      gotByte = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= err.code ?? err.message;
    });
    // The server closes first (after its byte), so the client's port does not linger in TIME_WAIT.
    socket.once('close', () => {
      if (gotByte) {
        run.handshakes++;
        if (reused) run.resumed++;
      } else {
        const key = failure ?? 'no_byte';
        run.failed[key] = (run.failed[key] ?? 0) + 1;
      }
      setImmediate(next);
    });
  };
  next();
}

childEntry('load worker', async () => {
  const [chain, key, bundle] = process.argv.slice(2).map((path) => readFileSync(path, 'utf8'));
  // One context for every connection: building it (parsing the key and bundle) is not part of a handshake.
  const context = createSecureContext({ cert: chain, key, ca: bundle, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  let run: Run | undefined;
  process.on('message', (request: LoadRequest) => {
    if (request.op === 'start') {
      if (run?.running) run.running = false;
      run = {
        host: request.host,
        port: request.port,
        mode: request.mode,
        handshakes: 0,
        resumed: 0,
        failed: {},
        inFlight: request.concurrency,
        running: true,
        onIdle: undefined,
      };
      for (let i = 0; i < request.concurrency; i++) slot(run, context);
      reply({ type: 'counts', id: request.id, counts: countsOf(run) });
    } else if (request.op === 'snapshot') {
      reply({ type: 'counts', id: request.id, counts: countsOf(run) });
    } else {
      // Stop starting connections; answer once the ones in flight have closed, so runs never overlap.
      const current = run;
      if (!current || current.inFlight === 0)
        return reply({ type: 'counts', id: request.id, counts: countsOf(current) });
      current.running = false;
      current.onIdle = () => reply({ type: 'counts', id: request.id, counts: countsOf(current) });
    }
  });
  reply({ type: 'ready' });
});
