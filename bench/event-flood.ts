// `npm run bench -- event-flood [--samples 300] [--rounds 3] [--rate 1500] [--json bench/results/event-flood.json]`
// Issue 21 item 6: does a flood of forged events slow down new connections? A sidecar (child process) subscribed to
// a private nats-server serves an inbound listener in front of an echo app; this process opens connections one
// after the other (full TLS 1.3 mTLS handshake + one request and its echo, never resumed) and times each, idle and
// while another process publishes forged events, --rate a second (default 1,500: the whole flood
// every second; 0: as fast as NATS takes them): the 8-certificate P-521 chains, 4-certificate forged
// control-plane chains and the real control plane's chain with made-up signatures, round-robin over the sidecar's
// subjects. Idle and flood windows alternate --rounds times (samples split between them), so a change in the
// machine's load hits both alike. Reports p50/p99 of both and their ratio (target: within 2x),
// what the sidecar counted, and whether NATS cut it off as a slow consumer.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type DetailedPeerCertificate } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, SigilError } from '../common/errors.ts';
import type { PublisherMessage } from './event-flood/flood-publisher.ts';
import { BENCH_TRUST_DOMAIN, SERVER_ID, startBenchPki, type BenchPki } from './handshake/bench-pki.ts';
import { startNodeChild } from './handshake/node-child.ts';
import type { CredentialFiles, TargetReady } from './handshake/protocol.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { withDeadline, type ChildProcesses } from './lib/child-processes.ts';
import { makeForgedEvents, type ForgeryKind } from './lib/forged-events.ts';
import { freeLoopbackPort } from './lib/free-port.ts';
import { startBenchNatsServer } from './lib/nats-server.ts';
import { round, summarize, type LatencySummary } from './lib/stats.ts';

const FORGERIES: readonly ForgeryKind[] = ['p521-long-chain', 'forged-control-plane-chain', 'bad-signature'];
const script = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export interface EventFloodOptions {
  /** Connections timed per phase, split over the rounds. */
  readonly samples: number;
  /** Idle and flood windows, alternating. */
  readonly rounds: number;
  /** Forged events published per second; 0: as fast as NATS takes them. */
  readonly rate: number;
  readonly json: string;
}

export interface EventFloodResult {
  readonly date: string;
  /** Asked-for forged events a second (0: unthrottled). */
  readonly rate: number;
  readonly rounds: number;
  readonly idle: LatencySummary;
  readonly flood: LatencySummary;
  readonly ratio: { readonly p50: number; readonly p99: number };
  readonly flooded: { readonly events: number; readonly seconds: number; readonly perSecond: number };
  /** sigil_events_received_total of the sidecar after the flood, by result. */
  readonly sidecarCounted: Record<string, number>;
  /** nats-server's /varz slow_consumers after the flood. */
  readonly slowConsumers: number;
  readonly failedConnections: number;
}

export function eventFloodOptionsFromArgs(args: readonly string[]): EventFloodOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      samples: { type: 'string', default: '300' },
      rounds: { type: 'string', default: '3' },
      rate: { type: 'string', default: '1500' },
      json: { type: 'string', default: 'bench/results/event-flood.json' },
    },
  });
  const integer = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--${name} must be an integer of at least ${min}, not ${text}`);
    return n;
  };
  return {
    samples: integer('samples', values.samples, 1),
    rounds: integer('rounds', values.rounds, 1),
    rate: integer('rate', values.rate, 0),
    json: values.json,
  };
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

async function echoApp(): Promise<Server> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** The control plane's certificate chain as its TLS listener presents it (what anyone can copy), root left out. */
async function controlPlaneChain(pki: BenchPki): Promise<Uint8Array[]> {
  const colon = pki.grpcAddress.lastIndexOf(':');
  const [host, port] = [pki.grpcAddress.slice(0, colon), pki.grpcAddress.slice(colon + 1)];
  const creds = pki.client;
  const peer = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(port),
      cert: readFileSync(creds.certChainPath),
      key: readFileSync(creds.keyPath),
      ca: readFileSync(creds.bundlePath),
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate(true));
      socket.destroy();
    });
    socket.once('error', reject);
  });
  const chain: Uint8Array[] = [];
  for (let c: DetailedPeerCertificate | undefined = peer; c !== undefined; c = c.issuerCertificate) {
    const cert = new X509Certificate(c.raw);
    if (cert.checkIssued(cert)) break;
    chain.push(new Uint8Array(c.raw));
    if (c.issuerCertificate === c) break;
  }
  return chain;
}

/** One new connection: full mTLS handshake, one request, its echo. Resolves with the milliseconds it took. */
function oneConnection(port: number, creds: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...creds, checkServerIdentity: () => undefined });
    socket.setTimeout(60_000, () => socket.destroy(new Error('no answer within 60 s')));
    socket.once('secureConnect', () => socket.write('ping'));
    socket.once('data', () => {
      resolve(performance.now() - started);
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the echo')));
  });
}

interface Window {
  readonly times: number[];
  failed: number;
}

async function timeConnections(port: number, creds: CredentialFiles, samples: number, into: Window): Promise<void> {
  const material = {
    cert: readFileSync(creds.certChainPath),
    key: readFileSync(creds.keyPath),
    ca: readFileSync(creds.bundlePath),
  };
  for (let i = 0; i < samples; i++) {
    try {
      into.times.push(await oneConnection(port, material));
    } catch {
      into.failed++;
    }
  }
}

async function sidecarCounts(adminPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^sigil_events_received_total\{[^}]*result="([^"]+)"[^}]*\} (\d+)/gm)) {
    counts[m[1] as string] = (counts[m[1] as string] ?? 0) + Number(m[2]);
  }
  return counts;
}

async function startSidecar(
  dir: string,
  pki: BenchPki,
  natsUrl: string,
  appPort: number,
  adminPort: number,
  children: ChildProcesses,
) {
  writeFileSync(join(dir, 'token'), await pki.createToken(SERVER_ID), { mode: 0o600 });
  writeFileSync(
    join(dir, 'sidecar.yaml'),
    [
      `spiffeId: ${SERVER_ID}`,
      `controlPlane: { address: "${pki.grpcAddress}", bundle: ${JSON.stringify(pki.bundlePath)} }`,
      'joinToken: { file: token }',
      `nats: { servers: ["${natsUrl}"] }`,
      'inbound:',
      `  - { listen: 127.0.0.1:0, forward: "127.0.0.1:${appPort}" }`,
      `admin: { listen: 127.0.0.1:${adminPort} }`,
      'trustRefreshInterval: 1h',
      'log: { level: error }',
      '',
    ].join('\n'),
  );
  return startNodeChild<TargetReady>(
    'sidecar',
    script('./handshake/sidecar-target.ts'),
    [join(dir, 'sidecar.yaml'), dir],
    { cpus: undefined, children },
  );
}

async function flood(
  natsUrl: string,
  eventsFile: string,
  rate: number,
  children: ChildProcesses,
  during: () => Promise<void>,
): Promise<{ events: number; seconds: number }> {
  // Resolves once the first burst is out: the flood is on.
  const publisher = await startNodeChild<{ type: 'ready' }>(
    'flood publisher',
    script('./event-flood/flood-publisher.ts'),
    [natsUrl, eventsFile, String(rate)],
    { cpus: undefined, children },
  );
  const done = new Promise<{ events: number; seconds: number }>((resolve) => {
    publisher.child.on('message', (m: PublisherMessage) => {
      if (m.type === 'done') resolve({ events: m.published, seconds: m.seconds });
    });
  });
  await during();
  publisher.child.kill('SIGTERM');
  return done;
}

export async function runEventFlood(options: EventFloodOptions): Promise<EventFloodResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-event-flood-'));
  try {
    return await withDeadline('bench event-flood', 15 * 60_000, async (children) => {
      const monitorPort = await freeLoopbackPort();
      const nats = await startBenchNatsServer((c) => children.track(c), ['-m', String(monitorPort)]);
      const pki = await startBenchPki(join(dir, 'pki'), 'ec-p256');
      const app = await echoApp();
      try {
        log('event-flood: forging events');
        const forged = await makeForgedEvents({
          trustDomain: BENCH_TRUST_DOMAIN,
          kinds: FORGERIES,
          controlPlaneChain: await controlPlaneChain(pki),
        });
        const eventsFile = join(dir, 'forged.json');
        writeFileSync(
          eventsFile,
          JSON.stringify(forged.map((e) => ({ subject: e.subject, base64: Buffer.from(e.data).toString('base64') }))),
        );
        const adminPort = await freeLoopbackPort();
        const appPort = (app.address() as { port: number }).port;
        const sidecar = await startSidecar(dir, pki, nats.url, appPort, adminPort, children);
        const port = sidecar.ready.port;
        const creds = pki.client;
        log('event-flood: warm-up');
        await timeConnections(port, creds, Math.min(50, options.samples), { times: [], failed: 0 });
        const idle: Window = { times: [], failed: 0 };
        const during: Window = { times: [], failed: 0 };
        const perRound = Math.max(1, Math.round(options.samples / options.rounds));
        const flooded = { events: 0, seconds: 0 };
        for (let round = 1; round <= options.rounds; round++) {
          log(`event-flood: round ${round}/${options.rounds}: ${perRound} connections idle, ${perRound} flooded`);
          await timeConnections(port, creds, perRound, idle);
          const f = await flood(nats.url, eventsFile, options.rate, children, () =>
            timeConnections(port, creds, perRound, during),
          );
          flooded.events += f.events;
          flooded.seconds += f.seconds;
        }
        const idleSummary = summarize(idle.times);
        const floodSummary = summarize(during.times);
        const sidecarCounted = await sidecarCounts(adminPort);
        const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as {
          slow_consumers?: number;
        };
        await sidecar.stop();
        return {
          date: new Date().toISOString(),
          rate: options.rate,
          rounds: options.rounds,
          idle: idleSummary,
          flood: floodSummary,
          ratio: {
            p50: round(floodSummary.p50 / idleSummary.p50, 2),
            p99: round(floodSummary.p99 / idleSummary.p99, 2),
          },
          flooded: {
            events: flooded.events,
            seconds: round(flooded.seconds, 1),
            perSecond: Math.round(flooded.events / flooded.seconds),
          },
          sidecarCounted,
          slowConsumers: varz.slow_consumers ?? 0,
          failedConnections: idle.failed + during.failed,
        };
      } finally {
        app.close();
        await pki.stop();
        await nats.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function eventFloodTable(r: EventFloodResult): string {
  const row = (phase: string, s: LatencySummary, ratio: string) =>
    `| ${phase} | ${s.samples} | ${s.p50} | ${s.p99} | ${s.max} | ${ratio} |`;
  const counted = Object.entries(r.sidecarCounted)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    '| phase | connections | p50 ms | p99 ms | max ms | flood / idle |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    row('idle', r.idle, ''),
    row('during the flood', r.flood, `p50 ${r.ratio.p50}x, p99 ${r.ratio.p99}x`),
    '',
    `Flood: ${r.flooded.events} forged events in ${r.flooded.seconds} s (${r.flooded.perSecond}/s). ` +
      `The sidecar counted: ${counted || 'nothing'}. NATS slow consumers: ${r.slowConsumers}. ` +
      `Failed connections: ${r.failedConnections}.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const options = eventFloodOptionsFromArgs(process.argv.slice(2));
  const result = await runEventFlood(options);
  process.stdout.write(`${eventFloodTable(result)}\n`);
  writeResultJson(options.json, result);
}

if (import.meta.main) runBenchMain('event-flood', main);
