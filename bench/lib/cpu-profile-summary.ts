// Summarises a V8 .cpuprofile (node --cpu-prof) of a proxy under load: where its CPU went, as shares of the samples
// in a time window, by kind of code (native outside JS, GC, Node's JS internals, Sigil, dependencies) and by
// function, self and inclusive. Used by bench/mesh-profile.ts; runnable alone:
//   npx node bench/lib/cpu-profile-summary.ts <file.cpuprofile> [--from-us N --to-us N] [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** What a frame is, for the breakdown. Order matters: the first kind that matches a frame is its kind. */
export type FrameKind =
  | 'idle'
  | 'gc'
  | 'program (native, no JS on the stack: OpenSSL and libuv work driven by socket reads)'
  | 'native called from JS (bindings: TLSWrap, TCP, crypto)'
  | 'sigil'
  | 'pino (logging)'
  | 'prom-client (metrics)'
  | 'other dependency'
  | 'node:net'
  | 'node:tls / _tls_wrap'
  | 'node:streams'
  | 'node:events, timers, microtasks'
  | 'node internals (other)'
  | 'other JS';

export function frameKind(frame: CallFrame): FrameKind {
  const { functionName: name, url } = frame;
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)' || name === '(root)')
    return 'program (native, no JS on the stack: OpenSSL and libuv work driven by socket reads)';
  if (url === '') return 'native called from JS (bindings: TLSWrap, TCP, crypto)';
  if (url.includes('/node_modules/pino')) return 'pino (logging)';
  if (url.includes('/node_modules/prom-client')) return 'prom-client (metrics)';
  if (url.includes('/node_modules/')) return 'other dependency';
  if (url.startsWith('file://')) return 'sigil';
  if (/^node:(net|internal\/net|internal\/stream_base_commons|internal\/tcp)/.test(url)) return 'node:net';
  if (/^node:(tls|_tls|internal\/tls)/.test(url)) return 'node:tls / _tls_wrap';
  if (/^node:(stream|internal\/streams)/.test(url)) return 'node:streams';
  if (/^node:(events|internal\/(timers|process\/task_queues|async_hooks|event_target))|^node:timers/.test(url))
    return 'node:events, timers, microtasks';
  if (url.startsWith('node:')) return 'node internals (other)';
  return 'other JS';
}

function shortUrl(url: string): string {
  const at = url.indexOf('/sidecar/');
  if (at >= 0) return url.slice(at + 1);
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  return url.replace(/^file:\/\/.*?\/(common|bench|cli)\//, '$1/');
}

function label(frame: CallFrame): string {
  const where = frame.url === '' ? '' : ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
  return `${frame.functionName || '(anonymous)'}${where}`;
}

export interface ProfileSummary {
  /** Samples in the window, and the ms they stand for (sampling interval × samples, idle excluded). */
  readonly samples: number;
  readonly busyMs: number;
  /** Share of busy (non-idle) samples by the kind of the leaf frame. */
  readonly selfByKind: readonly { readonly kind: FrameKind; readonly share: number }[];
  /** Share of busy samples with at least one frame of the kind on the stack. */
  readonly inclusiveByKind: readonly { readonly kind: FrameKind; readonly share: number }[];
  readonly topSelf: readonly { readonly fn: string; readonly kind: FrameKind; readonly share: number }[];
  readonly topInclusive: readonly { readonly fn: string; readonly kind: FrameKind; readonly share: number }[];
}

/** Summarises the samples taken between `fromUs` and `toUs` (the profile's own clock, CLOCK_MONOTONIC µs). */
export function summarizeProfile(
  profile: CpuProfile,
  options: { fromUs?: number; toUs?: number; top?: number } = {},
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const from = options.fromUs ?? Number.NEGATIVE_INFINITY;
  const to = options.toUs ?? Number.POSITIVE_INFINITY;
  const selfKind = new Map<FrameKind, number>();
  const inclKind = new Map<FrameKind, number>();
  const selfFn = new Map<string, { kind: FrameKind; n: number }>();
  const inclFn = new Map<string, { kind: FrameKind; n: number }>();
  const bump = <K>(map: Map<K, number>, key: K): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  const bumpFn = (map: Map<string, { kind: FrameKind; n: number }>, frame: CallFrame, kind: FrameKind): void => {
    const key = label(frame);
    const entry = map.get(key);
    if (entry) entry.n++;
    else map.set(key, { kind, n: 1 });
  };
  let t = profile.startTime;
  let busy = 0;
  let busyUs = 0;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    const leaf = byId.get(id);
    if (!leaf) continue;
    const kind = frameKind(leaf.callFrame);
    if (kind === 'idle') continue;
    busy++;
    busyUs += delta;
    bump(selfKind, kind);
    bumpFn(selfFn, leaf.callFrame, kind);
    const kinds = new Set<FrameKind>();
    const fns = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || frame.functionName === '(root)') continue;
      const k = frameKind(frame);
      kinds.add(k);
      const key = label(frame);
      if (!fns.has(key)) {
        fns.add(key);
        bumpFn(inclFn, frame, k);
      }
    }
    for (const k of kinds) bump(inclKind, k);
  }
  const share = (n: number): number => (busy === 0 ? 0 : n / busy);
  const top = options.top ?? 25;
  const sortKinds = (m: Map<FrameKind, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([kind, n]) => ({ kind, share: share(n) }));
  const sortFns = (m: Map<string, { kind: FrameKind; n: number }>) =>
    [...m]
      .sort((a, b) => b[1].n - a[1].n)
      .slice(0, top)
      .map(([fn, { kind, n }]) => ({ fn, kind, share: share(n) }));
  return {
    samples: busy,
    busyMs: busyUs / 1000,
    selfByKind: sortKinds(selfKind),
    inclusiveByKind: sortKinds(inclKind),
    topSelf: sortFns(selfFn),
    topInclusive: sortFns(inclFn),
  };
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;

/** The summary as Markdown lists, `title` first. */
export function formatSummary(title: string, s: ProfileSummary): string {
  const lines = [`### ${title}`, '', `${s.samples} busy samples, ${s.busyMs.toFixed(0)} ms`, '', 'Self, by kind:'];
  for (const { kind, share } of s.selfByKind) lines.push(`- ${pct(share)} ${kind}`);
  lines.push('', 'Inclusive (on the stack), by kind:');
  for (const { kind, share } of s.inclusiveByKind) lines.push(`- ${pct(share)} ${kind}`);
  lines.push('', 'Top functions, self:');
  for (const { fn, share } of s.topSelf) lines.push(`- ${pct(share)} ${fn}`);
  lines.push('', 'Top functions, inclusive:');
  for (const { fn, share } of s.topInclusive) lines.push(`- ${pct(share)} ${fn}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'from-us': { type: 'string' }, 'to-us': { type: 'string' }, top: { type: 'string', default: '25' } },
  });
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const summary = summarizeProfile(profile, {
      ...(values['from-us'] ? { fromUs: Number(values['from-us']) } : {}),
      ...(values['to-us'] ? { toUs: Number(values['to-us']) } : {}),
      top: Number(values.top),
    });
    process.stdout.write(`${formatSummary(file, summary)}\n\n`);
  }
}
