// Where a proxy's CPU goes, from a profile of the server process: self time by category (OpenSSL, kernel, libuv,
// Node's C++ and JS stream machinery, V8, GC, Sigil's own JS) and the functions with the most self and inclusive
// time. Reads either `perf script` text (perf record -g -p PID, with the process started under --perf-basic-prof so
// JIT frames have names; Node's binary keeps frame pointers, so stacks reach through C++ into JS) or a V8
// .cpuprofile (--cpu-prof), which sees JS frames only and folds all native time into "(program)".
// Usage: npx node bench/proxy/profile-breakdown.ts <perf-script.txt | profile.cpuprofile> [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** One sampled stack, leaf first, with the frames' shared objects where known. */
export interface StackSample {
  readonly thread: string;
  readonly frames: readonly { readonly symbol: string; readonly dso: string }[];
}

export type Category =
  | 'kernel (syscalls, loopback TCP, scheduling)'
  | 'OpenSSL (SSL_read/SSL_write, AES-GCM, record layer)'
  | 'libuv'
  | 'libc (memcpy, malloc, syscall stubs)'
  | 'GC (V8 heap, all threads)'
  | 'V8 (builtins, runtime, ICs, compiler)'
  | 'Node C++ (StreamBase, TLSWrap, AsyncWrap)'
  | 'Node JS (streams, net, tls, timers)'
  | 'Sigil JS'
  | 'dependencies JS (node_modules)'
  | "the server's own code (nginx, HAProxy, Go)"
  | 'native, not split (a .cpuprofile\'s "(program)")'
  | 'idle / other';

const GC_FRAME =
  /v8::internal::(Heap::|Scavenger|MarkCompact|MinorMark|Sweeper|ConcurrentMarking|IncrementalMarking|ScavengerCollector|GCTracer|MemoryAllocator)/;

/** The category of one sample: GC wherever it is on the stack, else by the leaf frame. */
export function categorize(sample: StackSample): Category {
  if (sample.thread.includes('V8Worker') || sample.frames.some((f) => GC_FRAME.test(f.symbol))) {
    return 'GC (V8 heap, all threads)';
  }
  const leaf = sample.frames[0];
  if (!leaf) return 'idle / other';
  const { symbol, dso } = leaf;
  if (symbol === '(program)') return 'native, not split (a .cpuprofile\'s "(program)")';
  if (dso.includes('kernel')) return 'kernel (syscalls, loopback TCP, scheduling)';
  if (dso.includes('libc.so') || dso.includes('ld-linux')) return 'libc (memcpy, malloc, syscall stubs)';
  if (/libssl|libcrypto/.test(dso)) return 'OpenSSL (SSL_read/SSL_write, AES-GCM, record layer)';
  if (/\/(nginx|haproxy)$|go-proxy/.test(dso)) return "the server's own code (nginx, HAProxy, Go)";
  if (symbol.startsWith('JS:') || symbol.startsWith('LazyCompile:') || symbol.startsWith('Function:')) {
    return jsCategory(symbol);
  }
  if (/^uv_|^uv__/.test(symbol)) return 'libuv';
  if (/^Builtins_|^Runtime_|v8::|^Stub:|^BytecodeHandler:|^(Builtin|Handler):/.test(symbol)) {
    return 'V8 (builtins, runtime, ICs, compiler)';
  }
  if (symbol.includes('node::')) return 'Node C++ (StreamBase, TLSWrap, AsyncWrap)';
  // What is left in the node binary is C: OpenSSL (statically linked) and a few others (zlib, nghttp2, ...).
  if (dso.endsWith('/node') && !symbol.includes('::') && !symbol.startsWith('[')) {
    return 'OpenSSL (SSL_read/SSL_write, AES-GCM, record layer)';
  }
  return 'idle / other';
}

function jsCategory(name: string): Category {
  if (name.includes('node:')) return 'Node JS (streams, net, tls, timers)';
  if (name.includes('/node_modules/')) return 'dependencies JS (node_modules)';
  if (name.includes('file://') || name.includes('.ts:')) return 'Sigil JS';
  return 'V8 (builtins, runtime, ICs, compiler)';
}

/** Parses `perf script` text (default fields, with -g call chains). */
export function parsePerfScript(text: string): StackSample[] {
  const samples: StackSample[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const header = lines[0];
    if (!header || header.startsWith('\t') || header.startsWith(' ')) continue;
    const frames = lines.slice(1).map((line) => {
      const m = /^\s*[0-9a-f]+\s+(.*?)(?:\+0x[0-9a-f]+)?\s+\(([^)]*)\)\s*$/.exec(line);
      return m ? { symbol: m[1] ?? '', dso: m[2] ?? '' } : { symbol: line.trim(), dso: '' };
    });
    samples.push({ thread: header.split(/\s+/)[0] ?? '', frames });
  }
  return samples;
}

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

/** Turns a V8 .cpuprofile into stacks; native time is one "(program)" frame, GC one "(garbage collector)". */
export function parseCpuProfile(json: string): StackSample[] {
  const profile = JSON.parse(json) as { nodes: CpuProfileNode[]; samples: number[] };
  const parent = new Map<number, number>();
  const byId = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stackOf = new Map<number, StackSample>();
  return profile.samples.map((id) => {
    let stack = stackOf.get(id);
    if (!stack) {
      const frames: { symbol: string; dso: string }[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const { functionName, url, lineNumber } = (byId.get(at) as CpuProfileNode).callFrame;
        if (functionName === '(root)') break;
        frames.push(cpuProfileFrame(functionName, url, lineNumber));
      }
      stack = { thread: 'main', frames };
      stackOf.set(id, stack);
    }
    return stack;
  });
}

function cpuProfileFrame(name: string, url: string, line: number): { symbol: string; dso: string } {
  if (name === '(garbage collector)') return { symbol: 'v8::internal::Heap::(garbage collector)', dso: 'v8' };
  if (name === '(program)' || name === '(idle)') return { symbol: name, dso: 'native' };
  // A native function called from JS (writeBuffer, readStop...) has no URL: its time is Node's C++ and below.
  if (url === '') return { symbol: `node::${name || '(anonymous)'}`, dso: 'node' };
  return { symbol: `JS:${name || '(anonymous)'} ${url}:${line + 1}`, dso: 'jit' };
}

export interface Breakdown {
  readonly samples: number;
  readonly categories: readonly { readonly category: Category; readonly share: number }[];
  readonly self: readonly { readonly name: string; readonly share: number }[];
  readonly inclusive: readonly { readonly name: string; readonly share: number }[];
}

export function breakdown(samples: readonly StackSample[], top: number): Breakdown {
  const categories = new Map<Category, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const sample of samples) {
    const category = categorize(sample);
    categories.set(category, (categories.get(category) ?? 0) + 1);
    const leaf = sample.frames[0]?.symbol ?? '(none)';
    self.set(leaf, (self.get(leaf) ?? 0) + 1);
    for (const name of new Set(sample.frames.map((f) => f.symbol))) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
  }
  const n = samples.length || 1;
  const ranked = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => ({ name, share: count / n }));
  return {
    samples: samples.length,
    categories: [...categories]
      .sort((a, b) => b[1] - a[1])
      .map(([category, count]) => ({ category, share: count / n })),
    self: ranked(self),
    inclusive: ranked(inclusive),
  };
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
const short = (name: string) => (name.length > 110 ? `${name.slice(0, 107)}...` : name);

export function breakdownReport(result: Breakdown): string {
  return [
    `${result.samples} samples`,
    '',
    '| category (self time) | share |',
    '| --- | ---: |',
    ...result.categories.map((c) => `| ${c.category} | ${pct(c.share)} |`),
    '',
    '| function (self) | share |',
    '| --- | ---: |',
    ...result.self.map((f) => `| \`${short(f.name)}\` | ${pct(f.share)} |`),
    '',
    '| function (inclusive) | share |',
    '| --- | ---: |',
    ...result.inclusive.map((f) => `| \`${short(f.name)}\` | ${pct(f.share)} |`),
  ].join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' } },
  });
  const path = positionals[0];
  if (!path) throw new Error('usage: profile-breakdown.ts <perf-script.txt | profile.cpuprofile> [--top N]');
  const text = readFileSync(path, 'utf8');
  const samples = path.endsWith('.cpuprofile') ? parseCpuProfile(text) : parsePerfScript(text);
  process.stdout.write(`${breakdownReport(breakdown(samples, Number(values.top)))}\n`);
}

if (import.meta.main) main();
