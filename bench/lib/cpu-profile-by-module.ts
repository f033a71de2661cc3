// Reads a V8 .cpuprofile (node --cpu-prof) of a short-lived process and prints where the time went: module loading
// against running, self time by package or source directory, self time by function, and inclusive time of the
// functions that match a filter. Used to profile the CLI and the control plane's Attest path (docs/benchmarks.md,
// Issuance and CLI); bench/lib/cpu-profile-summary.ts is its counterpart for proxies under load (shares by kind of
// code over a time window). Not part of any benchmark's figure.
//
//   npx node bench/lib/cpu-profile-by-module.ts FILE.cpuprofile [--top 25] [--match REGEX]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CpuProfile } from './cpu-profile-summary.ts';

type ProfileNode = CpuProfile['nodes'][number];
type CallFrame = ProfileNode['callFrame'];

/** node_modules/<package> or the repository directory a source file is in; V8's own entries by name. */
export function moduleOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName || 'native'})`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const parts = path.split('/');
  const at = parts.findIndex((p) => ['control-plane', 'common', 'cli', 'sidecar', 'proto', 'bench'].includes(p));
  return at === -1 ? path : parts.slice(at, Math.min(at + 2, parts.length - 1)).join('/') || path;
}

const frameName = (f: CallFrame) =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules\/)?/, '')}:${f.lineNumber + 1}`;

export function summarise(profile: CpuProfile): {
  totalMs: number;
  selfByNode: Map<number, number>;
  parent: Map<number, number>;
  byId: Map<number, ProfileNode>;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfByNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // The delta before a sample is the time it stands for; the next delta is the better estimate.
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
  }
  return { totalMs: (profile.endTime - profile.startTime) / 1000, selfByNode, parent, byId };
}

/** Module loading when a module loader frame is on the stack; V8's own entries by name; otherwise running. */
function phaseOf(id: number, parent: Map<number, number>, byId: Map<number, ProfileNode>): string {
  const own = byId.get(id)?.callFrame;
  if (own && own.url === '' && own.functionName.startsWith('(')) return own.functionName;
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const url = byId.get(at)?.callFrame.url ?? '';
    if (url.startsWith('node:internal/modules/') || url.startsWith('node:internal/bootstrap/')) return 'module loading';
  }
  return 'running';
}

function table(title: string, rows: Map<string, number>, totalMs: number, top: number): string {
  const sorted = [...rows].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${title}`,
    ...sorted.map(
      ([k, ms]) => `  ${ms.toFixed(1).padStart(9)} ms ${((100 * ms) / totalMs).toFixed(1).padStart(5)}%  ${k}`,
    ),
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, match: { type: 'string' } },
  });
  const top = Number(values.top);
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const { totalMs, selfByNode, parent, byId } = summarise(profile);
    const idle = [...selfByNode].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)');
    const idleMs = idle.reduce((s, [, ms]) => s + ms, 0);
    const busyMs = totalMs - idleMs;
    const byModule = new Map<string, number>();
    const bySelf = new Map<string, number>();
    const inclusive = new Map<string, number>();
    const match = values.match ? new RegExp(values.match) : undefined;
    const phases = new Map<string, number>();
    for (const [id, ms] of selfByNode) {
      const node = byId.get(id);
      if (!node || node.callFrame.functionName === '(idle)') continue;
      const phase = phaseOf(id, parent, byId);
      phases.set(phase, (phases.get(phase) ?? 0) + ms);
      const mod = moduleOf(node.callFrame.url, node.callFrame.functionName);
      byModule.set(mod, (byModule.get(mod) ?? 0) + ms);
      const name = frameName(node.callFrame);
      bySelf.set(name, (bySelf.get(name) ?? 0) + ms);
      // Inclusive: each distinct frame on the stack once.
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)?.callFrame;
        if (!frame) break;
        const key = frameName(frame);
        if (seen.has(key) || (match && !match.test(key))) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
      }
    }
    process.stdout.write(
      `${file}: ${totalMs.toFixed(0)} ms profiled, ${busyMs.toFixed(0)} ms busy (${idleMs.toFixed(0)} ms idle); % of busy\n` +
        `${table('phase (module loading: a module loader frame on the stack)', phases, busyMs, top)}\n` +
        `${table('self time by module', byModule, busyMs, top)}\n` +
        `${table('self time by function', bySelf, busyMs, top)}\n` +
        `${table(`inclusive time by function${match ? ` matching ${match}` : ''}`, inclusive, busyMs, top)}\n`,
    );
  }
}
