// Where the mesh path's CPU goes: runs bench/mesh's "connections" load (plain TCP in, one byte echoed, closed)
// through one or more Node-based pairs with V8's sampling profiler on in both proxies, then summarises each proxy's
// profile over the measured window only (bench/lib/cpu-profile-summary.ts): native work outside JS (OpenSSL's
// handshake, driven by socket reads), GC, Node's net/tls/stream JS, Sigil's own code, logging and metrics.
// Not a benchmark table: profiling slows JS down, so read shares, and the CPU per connection only as a rough figure.
// Run: `npx node bench/mesh-profile.ts [--paths sigil-resumption,node-tls-resumption] [--seconds 10]
//       [--interval-us 200] [--node-options "--max-semi-space-size=1"] [--dir /tmp/sigil-mesh-profile]`
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startBenchPki, SERVER_ID } from './handshake/bench-pki.ts';
import { detectPinning } from './handshake/cpu-pinning.ts';
import { GoLoadClient } from './handshake/go-load-client.ts';
import { startUpstreamApp } from './handshake/upstream-app.ts';
import { runBenchMain } from './lib/bench-main.ts';
import { withDeadline } from './lib/child-processes.ts';
import { formatSummary, summarizeProfile, type CpuProfile } from './lib/cpu-profile-summary.ts';
import { formatNativeSummary, parsePerfScript, summarizeStacks } from './lib/perf-summary.ts';
import { goLoadClientBinary } from './lib/go-client-build.ts';
import { processCpuMs } from './lib/process-cpu.ts';
import type { MeshCredentials, RunningPath } from './mesh/mesh-path.ts';
import { selectMeshPaths } from './mesh/mesh-registry.ts';

/** perf record of the proxies (CPU-clock samples with frame-pointer stacks) for `seconds`. */
function perfRecord(pids: readonly number[], seconds: number, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const perf = spawn(
      'perf',
      [
        'record',
        '-q',
        '-e',
        'cpu-clock',
        '-F',
        '1999',
        '-g',
        '-p',
        pids.join(','),
        '-o',
        file,
        '--',
        'sleep',
        String(seconds),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    perf.once('error', reject);
    perf.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited with ${code}`))));
  });
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

async function waitForProfile(dir: string, pid: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
    if (file) return join(dir, file);
    await sleep(100);
  }
  throw new Error(`no CPU profile from pid ${pid} in ${dir}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      paths: { type: 'string', default: 'sigil-resumption,node-tls-resumption' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '16' },
      'interval-us': { type: 'string', default: '200' },
      'node-options': { type: 'string', default: '' },
      /** perf: CPU samples by native symbol (OpenSSL, kernel, V8, Node C++, JS); v8: V8's JS-level profile. */
      profiler: { type: 'string', default: 'perf' },
      dir: { type: 'string' },
      top: { type: 'string', default: '25' },
    },
  });
  const paths = selectMeshPaths(values.paths);
  const profDir = values.dir ?? mkdtempSync(join(tmpdir(), 'sigil-mesh-profile-'));
  mkdirSync(profDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-mesh-profile-'));
  const goBinary = goLoadClientBinary((l) => process.stderr.write(`${l}\n`));
  const pinning = detectPinning();
  const usePerf = values.profiler === 'perf';
  const profFlags = usePerf
    ? `--perf-basic-prof --interpreted-frames-native-stack ${values['node-options']}`
    : `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-interval=${values['interval-us']} ${values['node-options']}`;
  try {
    await withDeadline('bench/mesh-profile', 600_000, async (children) => {
      const pki = await startBenchPki(dir, 'ec-p256');
      const app = await startUpstreamApp('echo', { cpus: pinning.serverCpus, children });
      let published: MeshCredentials | undefined;
      const running: { name: string; path: RunningPath }[] = [];
      const saved = process.env['NODE_OPTIONS'];
      try {
        for (const path of paths) {
          const pathDir = join(dir, path.name);
          mkdirSync(pathDir, { recursive: true, mode: 0o700 });
          // Only the proxies inherit the profiler flags: the app, the CA and this process stay unprofiled.
          process.env['NODE_OPTIONS'] = `${saved ?? ''} ${profFlags}`.trim();
          const started = await path
            .start({
              dir: pathDir,
              pki,
              children,
              cpus: pinning.serverCpus,
              app: { host: app.ready.host, port: app.ready.port },
              credentials: async () =>
                published ?? { server: await pki.issue(SERVER_ID, join(dir, 'server')), client: pki.client },
            })
            .finally(() => {
              if (saved === undefined) delete process.env['NODE_OPTIONS'];
              else process.env['NODE_OPTIONS'] = saved;
            });
          published ??= started.credentials;
          running.push({ name: path.name, path: started });
        }
        const client = await GoLoadClient.start(
          {
            binary: goBinary,
            credentials: pki.client,
            concurrency: Number(values.concurrency),
            cpus: pinning.clientCpus,
          },
          children,
        );
        const windows = new Map<string, { fromUs: number; toUs: number; connections: number; cpuMs: number[] }>();
        for (const { name, path } of running) {
          await client.beginPlainConnections(path.address, Number(values.concurrency));
          await sleep(Number(values.warmup) * 1000);
          const before = { counts: await client.snapshot(), cpu: path.proxyPids.map(processCpuMs), us: nowUs() };
          if (usePerf) await perfRecord(path.proxyPids, Number(values.seconds), join(profDir, `${name}.perf.data`));
          else await sleep(Number(values.seconds) * 1000);
          const after = { counts: await client.snapshot(), cpu: path.proxyPids.map(processCpuMs), us: nowUs() };
          await client.end();
          windows.set(name, {
            fromUs: before.us,
            toUs: after.us,
            connections: after.counts.handshakes - before.counts.handshakes,
            cpuMs: after.cpu.map((c, i) => c - (before.cpu[i] ?? 0)),
          });
        }
        await client.close();
        const out: string[] = [
          `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
        ];
        for (const { name, path } of running) {
          const pids = [...path.proxyPids];
          await path.stop();
          const w = windows.get(name);
          if (!w) continue;
          out.push(
            `\n## ${name}: ${w.connections} connections in ${((w.toUs - w.fromUs) / 1e6).toFixed(1)} s; ` +
              `CPU per connection (profiler on): ${pids.map((_, i) => `${['outbound', 'inbound'][i]} ${(((w.cpuMs[i] ?? 0) * 1000) / w.connections).toFixed(0)} µs`).join(', ')}`,
          );
          if (usePerf) {
            const stacks = parsePerfScript(
              execFileSync('perf', ['script', '-F', 'pid,ip,sym,dso', '-i', join(profDir, `${name}.perf.data`)], {
                encoding: 'utf8',
                maxBuffer: 1 << 30,
                stdio: ['ignore', 'pipe', 'ignore'],
              }),
            );
            for (const [i, pid] of pids.entries()) {
              const usPerConnection = ((w.cpuMs[i] ?? 0) * 1000) / w.connections;
              const summary = summarizeStacks(stacks.get(pid) ?? [], Number(values.top));
              out.push(
                '',
                formatNativeSummary(`${name} ${['outbound', 'inbound'][i]} (pid ${pid})`, summary, usPerConnection),
              );
            }
            continue;
          }
          for (const [i, pid] of pids.entries()) {
            const profile = JSON.parse(readFileSync(await waitForProfile(profDir, pid), 'utf8')) as CpuProfile;
            const summary = summarizeProfile(profile, { fromUs: w.fromUs, toUs: w.toUs, top: Number(values.top) });
            out.push('', formatSummary(`${name} ${['outbound', 'inbound'][i]} (pid ${pid})`, summary));
          }
        }
        process.stdout.write(`${out.join('\n')}\n`);
      } finally {
        for (const { path } of running) await path.stop().catch(() => undefined);
        await app.stop().catch(() => undefined);
        await pki.stop().catch(() => undefined);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) runBenchMain('mesh-profile', main);
