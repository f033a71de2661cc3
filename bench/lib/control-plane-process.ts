import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { AdminApi, initCa } from '../../control-plane/index.ts';
import type { ChildProcesses } from './child-processes.ts';
import { processCpuMs } from './process-cpu.ts';

export type ControlPlaneRequest = { readonly id: number; readonly op: 'add-trust-anchors'; readonly pem: string };
export type ControlPlaneReply =
  | { readonly id: number; readonly ok: true; readonly bundleSequence: number }
  | { readonly id: number; readonly ok: false; readonly error: string };

export interface ControlPlaneProcessOptions {
  /** An empty directory: the CA, store and config are created in it. */
  readonly dir: string;
  readonly trustDomain: string;
  readonly natsServers: readonly string[];
  /** Absent: SQLite in the data dir. Present: this PostgreSQL schema (the benchmark creates and drops it). */
  readonly postgres?: { readonly url: string; readonly schema: string };
}

/** The benchmark's handle on a control plane running in a child process. */
export interface ControlPlaneProcess {
  readonly pid: number;
  /** host:port of the gRPC (Identity and Admin) listener. */
  readonly grpcAddress: string;
  /** The bootstrap bundle, as `sigil ca init` wrote it. */
  readonly bundlePem: string;
  cpuMs(): number;
  /** ControlPlane.addTrustAnchors in the child: adds any new root and publishes the bundle as a signed event. */
  addTrustAnchors(pem: string): Promise<number>;
  /**
   * Revokes an identity through the Admin API (what `sigil revoke --spiffe-id` does), over one long-lived mTLS
   * channel with the admin SVID `sigil ca init` wrote; resolves with the CRL number the change produced.
   */
  revokeIdentity(spiffeId: string): Promise<number>;
  /** A one-time join token for `spiffeId`, through the Admin API. */
  createJoinToken(spiffeId: string): Promise<string>;
  /** `sigil rotate --all --within window`: resolves with the order id. */
  rotateAll(windowMs: number): Promise<string>;
  /** When (Unix ms) the control plane issued each workload SVID since `since`, from its inventory. */
  svidsIssuedSince(since: number): Promise<number[]>;
  /** `sigil rotate status --order id`: how many targets, rotated, pending, failed. */
  rotationStatus(orderId: string): Promise<{ targets: number; rotated: number; pending: number; failed: number }>;
  /** SIGTERM, resolved once it has stopped. */
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./control-plane-child.ts', import.meta.url));
const PASSPHRASE = 'bench passphrase, temporary CA';

/** `sigil ca init` (as a library call) into `dir`, then the control plane child; resolves once it serves. */
export async function startControlPlaneProcess(
  options: ControlPlaneProcessOptions,
  children: ChildProcesses,
): Promise<ControlPlaneProcess> {
  const dataDir = join(options.dir, 'data');
  await initCa({
    dataDir,
    trustDomain: options.trustDomain,
    keyType: 'ec-p256',
    passphrase: PASSPHRASE,
    now: Date.now(),
  });
  const nats = options.natsServers.map((s) => JSON.stringify(s)).join(', ');
  writeFileSync(
    join(options.dir, 'cp.yaml'),
    `dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nnats: { servers: [${nats}] }\nlog: { level: info }\n${
      options.postgres
        ? `store: { postgres: { url: ${JSON.stringify(options.postgres.url)}, schema: ${options.postgres.schema} } }\n`
        : ''
    }`,
  );
  const child = children.track(
    spawn(process.execPath, [CHILD, 'cp.yaml'], {
      cwd: options.dir,
      env: { ...process.env, SIGIL_CA_PASSPHRASE: PASSPHRASE, SIGIL_LOG_LEVEL: undefined },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const grpcAddress = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"control plane started"')) resolve(String((JSON.parse(line) as { grpc: string }).grpc));
      }
    });
    void exited.then((code) =>
      reject(
        new SigilError(
          ErrorCode.UNAVAILABLE,
          `the control plane exited (${code}) before it started; its errors are above`,
        ),
      ),
    );
  });

  let nextId = 1;
  const pending = new Map<number, { resolve: (sequence: number) => void; reject: (err: Error) => void }>();
  child.on('message', (message: ControlPlaneReply) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.ok) waiter?.resolve(message.bundleSequence);
    else
      waiter?.reject(
        new SigilError(ErrorCode.INTERNAL, `the control plane could not add trust anchors: ${message.error}`),
      );
  });
  void exited.then((code) => {
    for (const waiter of pending.values())
      waiter.reject(new SigilError(ErrorCode.UNAVAILABLE, `the control plane exited (${code})`));
    pending.clear();
  });

  const pid = child.pid ?? 0;
  // Created lazily: a run without revocations opens no admin channel.
  let admin: AdminApi | undefined;
  const adminApi = (): AdminApi =>
    (admin ??= new AdminApi({ address: grpcAddress, credentialsDir: join(dataDir, 'admin') }));
  return {
    pid,
    grpcAddress,
    bundlePem: readFileSync(join(dataDir, 'bundle.pem'), 'utf8'),
    cpuMs: () => processCpuMs(pid),
    addTrustAnchors(pem) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, op: 'add-trust-anchors', pem } satisfies ControlPlaneRequest);
      });
    },
    async revokeIdentity(spiffeId) {
      return Number((await adminApi().revoke({ spiffeId, reason: 'keyCompromise' })).crlNumber);
    },
    async createJoinToken(spiffeId) {
      return (await adminApi().createJoinToken({ spiffeId, ttlSeconds: 3_600, uses: 1 })).token;
    },
    async rotateAll(windowMs) {
      return (await adminApi().rotate({ all: true, windowMs })).orderId;
    },
    async svidsIssuedSince(since) {
      const { certificates } = await adminApi().listCertificates({ kind: 'svid' });
      return certificates
        .map((c) => Number(c.issuedAtUnixMs))
        .filter((at) => at >= since)
        .sort((a, b) => a - b);
    },
    async rotationStatus(orderId) {
      const s = await adminApi().rotationStatus(orderId);
      return {
        targets: s.targets.length,
        rotated: s.rotated.length,
        pending: s.pending.length,
        failed: s.failed.length,
      };
    },
    async stop() {
      admin?.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
