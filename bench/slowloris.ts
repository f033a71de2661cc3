// Slowloris against the sidecar's inbound listener (issue 21 item 8): 10,000 half-open handshakes (a partial
// ClientHello, then silence) from 127.0.0.1 while a legitimate client handshakes from 127.0.0.2. The listener runs in
// a child process, once with the default handshake bounds and once with them lifted (the baseline of the same run);
// its RSS and V8 heap are sampled idle, during the attack and after the attack's sockets are gone.
// Run: `npx node bench/slowloris.ts [--connections 10000] [--legit 20] [--settle-seconds 3] [--json PATH]`.
// Writes bench/results/slowloris.json.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVER_ID, startBenchPki } from './handshake/bench-pki.ts';
import type { CredentialFiles } from './handshake/protocol.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { positive } from './lib/run-info.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = fileURLToPath(new URL('./slowloris/slowloris-listener.ts', import.meta.url));
const PARTIAL_HELLO = Buffer.from([0x16, 0x03, 0x01]);
const BATCH = 500;
const LEGIT_TIMEOUT_MS = 5_000;

interface Sample {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly pending: number;
}

interface Variant {
  readonly name: string;
  readonly maxPendingHandshakes: number;
  readonly maxPendingHandshakesPerSource: number;
}

const VARIANTS: readonly Variant[] = [
  { name: 'bounded (defaults: 1024 / 64 per source)', maxPendingHandshakes: 1024, maxPendingHandshakesPerSource: 64 },
  { name: 'unbounded (baseline)', maxPendingHandshakes: 1_000_000, maxPendingHandshakesPerSource: 1_000_000 },
];

class ListenerChild {
  readonly #child: ChildProcess;
  readonly port: number;
  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }
  static async start(server: CredentialFiles, variant: Variant): Promise<ListenerChild> {
    const child = fork(
      CHILD,
      [
        server.certChainPath,
        server.keyPath,
        server.bundlePath,
        String(variant.maxPendingHandshakes),
        String(variant.maxPendingHandshakesPerSource),
      ],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const [ready] = (await once(child, 'message')) as [{ port: number }];
    return new ListenerChild(child, ready.port);
  }
  async #ask<T>(message: string, type: string): Promise<T> {
    const answer = new Promise<T>((resolve) => {
      const onMessage = (m: { type: string }): void => {
        if (m.type !== type) return;
        this.#child.off('message', onMessage);
        resolve(m as T);
      };
      this.#child.on('message', onMessage);
    });
    this.#child.send(message);
    return answer;
  }
  async sample(): Promise<Sample> {
    const m = await this.#ask<{ memory: NodeJS.MemoryUsage; pending: number }>('sample', 'sample');
    return { rssBytes: m.memory.rss, heapUsedBytes: m.memory.heapUsed, pending: m.pending };
  }
  settle(): Promise<{ refusals: Record<string, number> }> {
    return this.#ask('settle', 'settled');
  }
  async stop(): Promise<void> {
    const exited = once(this.#child, 'exit');
    this.#child.disconnect();
    await exited;
  }
}

/** One mTLS handshake and echo from 127.0.0.2; true if it completed within LEGIT_TIMEOUT_MS. */
function legitRoundTrip(port: number, creds: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      localAddress: '127.0.0.2',
      ...creds,
      checkServerIdentity: () => undefined,
      // net's localAddress, honoured by tls.connect() but missing from @types/node's ConnectionOptions.
    } as ConnectionOptions);
    const timer = setTimeout(() => finish(false), LEGIT_TIMEOUT_MS);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('secureConnect', () => socket.write('x'));
    socket.once('data', () => finish(true));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

/** Opens `count` half-open connections from 127.0.0.1, `BATCH` at a time; resolves with every socket. */
async function halfOpenFlood(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  while (sockets.length < count) {
    const batch = Array.from({ length: Math.min(BATCH, count - sockets.length) }, () => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
      socket.on('error', () => {});
      socket.once('connect', () => socket.write(PARTIAL_HELLO));
      return socket;
    });
    await Promise.all(batch.map((s) => new Promise((resolve) => s.once('connect', resolve).once('close', resolve))));
    sockets.push(...batch);
  }
  return sockets;
}

interface VariantResult {
  readonly variant: string;
  readonly idle: Sample;
  readonly during: Sample;
  readonly after: Sample;
  readonly attackerHeldOpen: number;
  readonly legitOk: number;
  readonly legitTried: number;
  readonly refusals: Record<string, number>;
}

async function runVariant(
  server: CredentialFiles,
  creds: { cert: Buffer; key: Buffer; ca: Buffer },
  variant: Variant,
  options: { connections: number; legit: number; settleMs: number },
): Promise<VariantResult> {
  const child = await ListenerChild.start(server, variant);
  try {
    for (let i = 0; i < options.legit; i += 1) await legitRoundTrip(child.port, creds);
    await sleep(options.settleMs);
    const idle = await child.sample();
    const attack = await halfOpenFlood(child.port, options.connections);
    let legitOk = 0;
    for (let i = 0; i < options.legit; i += 1) if (await legitRoundTrip(child.port, creds)) legitOk += 1;
    const during = await child.sample();
    const attackerHeldOpen = attack.filter((s) => !s.destroyed).length;
    for (const s of attack) s.destroy();
    const { refusals } = await child.settle();
    await sleep(options.settleMs);
    const after = await child.sample();
    return {
      variant: variant.name,
      idle,
      during,
      after,
      attackerHeldOpen,
      legitOk,
      legitTried: options.legit,
      refusals,
    };
  } finally {
    await child.stop();
  }
}

const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);

export function slowlorisTable(results: readonly VariantResult[]): string {
  const rows = results.map((r) =>
    [
      r.variant,
      `${r.legitOk}/${r.legitTried}`,
      String(r.attackerHeldOpen),
      `${mb(r.idle.rssBytes)} / ${mb(r.during.rssBytes)} / ${mb(r.after.rssBytes)}`,
      `${(r.during.rssBytes / r.idle.rssBytes).toFixed(2)} / ${(r.after.rssBytes / r.idle.rssBytes).toFixed(2)}`,
      `${mb(r.idle.heapUsedBytes)} / ${mb(r.during.heapUsedBytes)} / ${mb(r.after.heapUsedBytes)}`,
    ].join(' | '),
  );
  return [
    '| listener | legit handshakes ok during attack | attacker sockets held open | RSS MB idle / during / after | RSS ratio during / after (idle = 1) | V8 heap MB idle / during / after |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '10000' },
      legit: { type: 'string', default: '20' },
      'settle-seconds': { type: 'string', default: '3' },
      json: { type: 'string', default: join(ROOT, 'bench', 'results', 'slowloris.json') },
    },
  });
  const options = {
    connections: positive('--connections', Number(values.connections)),
    legit: positive('--legit', Number(values.legit)),
    settleMs: positive('--settle-seconds', Number(values['settle-seconds'])) * 1000,
  };
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-slowloris-'));
  const pki = await startBenchPki(dir, 'ec-p256');
  try {
    const server = await pki.issue(SERVER_ID, join(dir, 'server'));
    const creds = {
      cert: readFileSync(pki.client.certChainPath),
      key: readFileSync(pki.client.keyPath),
      ca: readFileSync(pki.client.bundlePath),
    };
    const results: VariantResult[] = [];
    for (const variant of VARIANTS) results.push(await runVariant(server, creds, variant, options));
    process.stdout.write(`${slowlorisTable(results)}\n`);
    writeResultJson(values.json, { options, results });
  } finally {
    await pki.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) runBenchMain('slowloris', main);
