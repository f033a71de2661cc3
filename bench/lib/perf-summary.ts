// Summarises `perf script -F pid,ip,sym,dso` output of Node processes (run with --perf-basic-prof so JIT frames are
// named): CPU samples by where the CPU actually was, which V8's own profiler cannot tell apart (it charges OpenSSL's
// work to the JS function that called into it): the kernel (syscalls, loopback TCP), OpenSSL, V8's GC, the rest of
// V8, Node's C++ (TLSWrap, streams, TCP), libuv, JIT-compiled JS by origin, libc. Used by bench/mesh-profile.ts;
// runnable alone: perf script -F pid,ip,sym,dso -i perf.data | npx node bench/lib/perf-summary.ts
import { readFileSync } from 'node:fs';

export type NativeKind =
  | 'kernel (syscalls, loopback TCP, scheduling)'
  | 'OpenSSL: ML-KEM-768 (the post-quantum half of the X25519MLKEM768 key share)'
  | 'OpenSSL: X25519'
  | 'OpenSSL: other (hashes, AEAD, HKDF, tickets, handshake state)'
  | 'V8 garbage collector'
  | 'V8 other (interpreter, builtins, ICs, compiler)'
  | 'Node C++ (TLSWrap, streams, TCP wrap, crypto bindings)'
  | 'libuv'
  | 'JS: Node internals (net, tls, streams, events)'
  | 'JS: Sigil'
  | 'JS: dependencies (pino, prom-client...)'
  | 'JS: other'
  | 'libc, other';

/** Bundled C and C++ libraries of the node binary that are not OpenSSL. */
const NOT_OPENSSL =
  /^(icu_|simdutf|ada::|llhttp|nghttp|ares_|deflate|inflate|crc32|adler32|Brotli|brotli|std::|operator |simdjson|uvwasi|sqlite3)/;
/** OpenSSL 3.5's ML-KEM (NTT, Keccak/SHAKE sampling) and X25519 field arithmetic, by their internal symbols. */
const ML_KEM =
  /(^genkey$|^decap$|^encap$|inner_product|ml_kem|mlkem|ML_KEM|scalar_|encrypt_cpa|decrypt_cpa|matrix_|Keccak|KECCAK|keccak|shake|SHA3|sha3|cbd_|gencbd|vector_|poly_|kyber)/;
const X25519 = /(x25519|X25519|fe_|fe51|fe64|ge_|cmov|curve25519|ecx_)/;
const GC =
  /(Heap::|Scaveng|MarkCompact|Sweep|Marking|Evacuat|Compactor|MinorMS|ConcurrentMarking|GCTracer|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|IncrementalMarking|RememberedSet|SlotSet|ObjectVisitor|HeapVisitor|Collector|WeakObjects|EphemeronHashTable|CppHeap|cppgc)/;

export function nativeKind(sym: string, dso: string): NativeKind {
  if (dso.includes('kernel')) return 'kernel (syscalls, loopback TCP, scheduling)';
  if (dso.includes('perf-') || dso.includes('JIT')) {
    if (/^(Builtin|BytecodeHandler|Stub|Handler|RegExp):/.test(sym))
      return 'V8 other (interpreter, builtins, ICs, compiler)';
    if (sym.includes('/node_modules/')) return 'JS: dependencies (pino, prom-client...)';
    if (sym.includes('file://')) return 'JS: Sigil';
    if (sym.includes('node:')) return 'JS: Node internals (net, tls, streams, events)';
    return 'JS: other';
  }
  if (/\bnode\b|\/node$/.test(dso) || dso.endsWith('/bin/node')) {
    if (
      sym.startsWith('node::') ||
      sym.includes(' node::') ||
      sym.startsWith('ncrypto::') ||
      sym.startsWith('_ZN4node')
    ) {
      return 'Node C++ (TLSWrap, streams, TCP wrap, crypto bindings)';
    }
    if (sym.startsWith('uv_') || sym.startsWith('uv__')) return 'libuv';
    if (/^(v8::|Builtins_|cppgc|_ZN2v8|_ZN5cppgc)/.test(sym) || sym.includes('v8::internal')) {
      return GC.test(sym) ? 'V8 garbage collector' : 'V8 other (interpreter, builtins, ICs, compiler)';
    }
    // What is left in the binary on this path is OpenSSL (statically linked into Node): libssl and libcrypto.
    if (NOT_OPENSSL.test(sym)) return 'libc, other';
    if (ML_KEM.test(sym)) return 'OpenSSL: ML-KEM-768 (the post-quantum half of the X25519MLKEM768 key share)';
    if (X25519.test(sym)) return 'OpenSSL: X25519';
    return 'OpenSSL: other (hashes, AEAD, HKDF, tickets, handshake state)';
  }
  return 'libc, other';
}

interface Frame {
  readonly sym: string;
  readonly dso: string;
}

/** Parses perf script's blocks: a line with the pid, then one line per frame (leaf first), then a blank line. */
export function parsePerfScript(text: string): Map<number, Frame[][]> {
  const byPid = new Map<number, Frame[][]>();
  let current: Frame[] | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = undefined;
      continue;
    }
    if (!line.startsWith('\t') && !line.startsWith(' '.repeat(8))) {
      const pid = Number(line.trim().split(/\s+/)[0]);
      current = [];
      const samples = byPid.get(pid) ?? [];
      samples.push(current);
      byPid.set(pid, samples);
      continue;
    }
    if (!current) continue;
    const m = /^\s*[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$/.exec(line);
    if (m) current.push({ sym: m[1] ?? '', dso: m[2] ?? '' });
  }
  return byPid;
}

export interface NativeSummary {
  readonly samples: number;
  readonly selfByKind: readonly { readonly kind: NativeKind; readonly share: number }[];
  /** Share of samples with a Sigil JS frame anywhere on the (frame-pointer) stack, and with OpenSSL. */
  readonly underSigil: number;
  readonly topSymbols: readonly { readonly sym: string; readonly kind: NativeKind; readonly share: number }[];
  /** libc samples (malloc, free, memcpy...) by the kind of their nearest caller outside libc. */
  readonly libcByCaller: readonly { readonly kind: NativeKind; readonly share: number }[];
  /** Samples under Sigil, by the innermost Sigil function on the stack: what each one costs with all it calls. */
  readonly bySigilFunction: readonly { readonly fn: string; readonly share: number }[];
}

/** A JIT frame's name without V8's tier marks, the file shortened to its path in the repository. */
function jsName(sym: string): string {
  return sym
    .replace(/^(LazyCompile|Function|JS):[*~^+']?/, '')
    .replace(/file:\/\/\S*?\/(sidecar|common|bench)\//, '$1/');
}

export function summarizeStacks(stacks: readonly Frame[][], top = 30): NativeSummary {
  const kinds = new Map<NativeKind, number>();
  const syms = new Map<string, { kind: NativeKind; n: number }>();
  let underSigil = 0;
  const sigilFns = new Map<string, number>();
  const libcCallers = new Map<NativeKind, number>();
  for (const stack of stacks) {
    const leaf = stack[0];
    if (!leaf) continue;
    const kind = nativeKind(leaf.sym, leaf.dso);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (kind === 'libc, other') {
      const caller = stack.map((f) => nativeKind(f.sym, f.dso)).find((k) => k !== 'libc, other');
      if (caller) libcCallers.set(caller, (libcCallers.get(caller) ?? 0) + 1);
    }
    const key = jsName(leaf.sym);
    const entry = syms.get(key);
    if (entry) entry.n++;
    else syms.set(key, { kind, n: 1 });
    const sigil = stack.find((f) => nativeKind(f.sym, f.dso) === 'JS: Sigil');
    if (sigil) {
      underSigil++;
      const fn = jsName(sigil.sym);
      sigilFns.set(fn, (sigilFns.get(fn) ?? 0) + 1);
    }
  }
  const n = stacks.length;
  return {
    samples: n,
    selfByKind: [...kinds].sort((a, b) => b[1] - a[1]).map(([kind, c]) => ({ kind, share: c / n })),
    underSigil: underSigil / n,
    topSymbols: [...syms]
      .sort((a, b) => b[1].n - a[1].n)
      .slice(0, top)
      .map(([sym, { kind, n: c }]) => ({ sym, kind, share: c / n })),
    libcByCaller: [...libcCallers].sort((a, b) => b[1] - a[1]).map(([kind, c]) => ({ kind, share: c / n })),
    bySigilFunction: [...sigilFns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, c]) => ({ fn, share: c / n })),
  };
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;

export function formatNativeSummary(title: string, s: NativeSummary, usPerOperation?: number): string {
  const us = (share: number): string =>
    usPerOperation === undefined ? '' : ` (${Math.round(share * usPerOperation)} µs)`;
  const lines = [`### ${title}`, '', `${s.samples} CPU samples`, '', 'Where the CPU was (self):'];
  for (const { kind, share } of s.selfByKind) lines.push(`- ${pct(share)}${us(share)} ${kind}`);
  lines.push('', 'libc (malloc, free, memcpy...) by its nearest caller outside libc:');
  for (const { kind, share } of s.libcByCaller) lines.push(`- ${pct(share)}${us(share)} ${kind}`);
  lines.push('', `Samples with a Sigil JS frame on the stack: ${pct(s.underSigil)}${us(s.underSigil)}`);
  lines.push('', 'Under Sigil, by the innermost Sigil function on the stack (itself and all it calls):');
  for (const { fn, share } of s.bySigilFunction) lines.push(`- ${pct(share)}${us(share)} ${fn}`);
  lines.push('', 'Top symbols (self):');
  for (const { sym, kind, share } of s.topSymbols) lines.push(`- ${pct(share)} ${sym.slice(0, 110)} [${kind}]`);
  return lines.join('\n');
}

if (import.meta.main) {
  const text = readFileSync(0, 'utf8');
  for (const [pid, stacks] of parsePerfScript(text)) {
    process.stdout.write(`${formatNativeSummary(`pid ${pid}`, summarizeStacks(stacks))}\n\n`);
  }
}
