// The grpc-js transport floor for bench/issuance.ts: a grpc-js echo server (grpc-echo-server.ts) in a child process,
// over the control plane's TLS channel settings, measured by its CPU per call.
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_PLANE_CHANNEL_OPTIONS } from '../../common/control-plane-identity.ts';
import { ECHO_SERVICE } from './echo-service.ts';
import { processCpuMs } from './process-cpu.ts';

/** Request and response sizes of an Attest call in this benchmark (a P-256 CSR plus token; the SVID chain). */
export const ECHO_REQUEST_BYTES = 420;
export const ECHO_RESPONSE_BYTES = 1300;

/**
 * The transport's floor: the same client pattern as bench/issuance.ts (one TLS channel, `concurrency` calls in flight) against a grpc-js server
 * that answers Attest-sized requests with fixed Attest-sized bytes. What Attest costs above this is Sigil's.
 */
export async function measureGrpcFloor(options: {
  readonly calls: number;
  readonly concurrency: number;
  readonly maxMs: number;
}): Promise<{ calls: number; callsPerSecondPerCore: number; serverCpuMs: number; cpuMsPerCall: number }> {
  const { calls, concurrency, maxMs } = options;
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-echo-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=echo',
      '-addext',
      'subjectAltName=DNS:control-plane.sigil.invalid',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./grpc-echo-server.ts', import.meta.url)), certFile, keyFile, String(ECHO_RESPONSE_BYTES)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const port = await new Promise<number>((ok, fail) => {
      child.stdout.setEncoding('utf8').once('data', (line: string) => ok(Number(line.trim())));
      void exited.then(() => fail(new Error('the gRPC echo server exited before listening')));
    });
    const Echo = makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
    const client = new Echo(
      `127.0.0.1:${port}`,
      credentials.createSsl(readFileSync(certFile)),
      CONTROL_PLANE_CHANNEL_OPTIONS,
    );
    const request = randomBytes(ECHO_REQUEST_BYTES);
    const call = () =>
      new Promise<void>((ok, fail) =>
        client.makeUnaryRequest(
          ECHO_SERVICE.call!.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          request,
          (err) => (err ? fail(err) : ok()),
        ),
      );
    for (let i = 0; i < 200; i++) await call();
    const serverStart = processCpuMs(child.pid!);
    const wallStart = performance.now();
    let done = 0;
    const worker = async () => {
      while (done < calls && performance.now() - wallStart < maxMs) {
        done++;
        await call();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const serverCpuMs = processCpuMs(child.pid!) - serverStart;
    client.close();
    return {
      calls: done,
      callsPerSecondPerCore: Math.round((done * 1000) / serverCpuMs),
      serverCpuMs: Math.round(serverCpuMs),
      cpuMsPerCall: Math.round((serverCpuMs / done) * 1000) / 1000,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
