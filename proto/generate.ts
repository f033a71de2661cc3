// Regenerates proto/gen/ (`npm run proto`), one module set per proto tree:
//   proto/sigil/**          → sigil.js + sigil.d.ts (protobufjs static classes, pbjs static-module ESM, and their
//                             types from pbts) and services.ts (typed @grpc/grpc-js definitions, emit-services.ts);
//   proto/spiffe/workload/  → workload.js + workload.d.ts + workload-services.ts: the SPIFFE Workload API, kept
//                             apart because it has no package (the specification's names) and only the sidecar's
//                             Workload API server and its clients load it.
// Deterministic (sorted inputs, no timestamps or paths in the output), offline, no protoc.
// On failure nothing in the output directory is touched: every file is produced in memory first.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { pbjs, pbts } from 'protobufjs-cli';
import { emitServices, GENERATED_HEADER } from './emit-services.ts';

const PROTO_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUT_DIR = path.join(PROTO_DIR, 'gen');
const RUNTIME_IMPORT = 'protobufjs/minimal.js';

// Sigil's int64/uint64 fields (sequences, unix milliseconds) stay far below 2^53, so they are plain JS numbers.
// protobufjs decodes 64-bit varints to Long whenever the `long` package is loadable, and pbjs bakes Long defaults
// into the classes; disabling Long both here and in the generated module keeps types, defaults and decoding on
// `number`. This configures the process-wide protobufjs/minimal instance, which is the point.
const NUMBER_LONGS_PRELUDE = [
  '',
  '// int64/uint64 fields are plain numbers (values stay below 2^53): protobufjs must not decode them to Long.',
  '$protobuf.util.Long = null;',
  '$protobuf.configure();',
].join('\n');

/** Runs `work` with Long disabled, then puts back what the process had, so generating has no lasting effect. */
async function withNumberLongs<T>(work: () => Promise<T>): Promise<T> {
  const previous = protobuf.util.Long;
  protobuf.util.Long = null as unknown as typeof protobuf.util.Long;
  protobuf.configure();
  try {
    return await work();
  } finally {
    protobuf.util.Long = previous;
    protobuf.configure();
  }
}

/** One generated module set: the .proto files under `dir`, the pbjs root name, and the output file names. */
interface ModuleSet {
  readonly dir: string;
  readonly root: string;
  readonly module: string;
  readonly services: string;
}

const MODULE_SETS: readonly ModuleSet[] = [
  { dir: 'sigil', root: 'sigil', module: 'sigil', services: 'services.ts' },
  {
    dir: path.join('spiffe', 'workload'),
    root: 'spiffe_workload',
    module: 'workload',
    services: 'workload-services.ts',
  },
];

/** Every .proto under proto/<dir>/ (default proto/sigil/), as sorted absolute paths. */
export async function listProtoFiles(protoDir: string = PROTO_DIR, dir = 'sigil'): Promise<string[]> {
  const entries = await readdir(path.join(protoDir, dir), { recursive: true });
  const files = entries.filter((entry) => entry.endsWith('.proto')).map((entry) => path.join(protoDir, dir, entry));
  if (files.length === 0) throw new Error(`no .proto files under ${path.join(protoDir, dir)}`);
  return files.sort();
}

function runPbjs(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    pbjs.main(args, (err, output) => (err ? reject(err) : resolve(output ?? '')));
  });
}

function runPbts(source: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    pbts.process(source, args, (err, output) => (err ? reject(err) : resolve(output ?? '')));
  });
}

function replaceOnce(text: string, search: string, replacement: string, what: string): string {
  const at = text.indexOf(search);
  if (at < 0) throw new Error(`pbjs/pbts output changed shape: ${what} not found (update proto/generate.ts)`);
  return text.slice(0, at) + replacement + text.slice(at + search.length);
}

/**
 * The module every Sigil process loads, emitted without pbjs's JSDoc (the declarations keep it) and in ASCII only: V8
 * keeps the source of each loaded module in memory, and a single wider character makes it keep all of it as UTF-16.
 * With comments and the header's dash, sigil.js held 3.6 MB of heap in every sidecar and control plane.
 */
function finishModule(js: string, name: string): string {
  const importLine = `import $protobuf from "${RUNTIME_IMPORT}";`;
  const body = replaceOnce(js, importLine, importLine + NUMBER_LONGS_PRELUDE, 'the protobufjs/minimal.js import');
  const text = `${GENERATED_HEADER}\n${body.trimEnd()}\n`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII
  const wide = /[^\x00-\x7f]/.exec(text);
  if (wide) throw new Error(`${name} would hold "${wide[0]}" (at ${wide.index}): generated modules must be ASCII`);
  return text;
}

function finishDeclarations(dts: string): string {
  // pbts always imports Long; with number longs nothing may reference it, and `import =` is not ESM anyway.
  const body = replaceOnce(dts, 'import Long = require("long");\n', '', 'the Long import');
  if (/\bLong\b/.test(body)) throw new Error('sigil.d.ts still mentions Long: --force-number did not apply');
  if (!body.includes(`from "${RUNTIME_IMPORT}";`)) throw new Error(`sigil.d.ts does not import ${RUNTIME_IMPORT}`);
  return `${GENERATED_HEADER}\n${body.trimEnd()}\n`;
}

function loadRoot(files: string[], protoDir: string): protobuf.Root {
  const root = new protobuf.Root();
  // Imports are written from the proto/ directory ("sigil/v1/x.proto"), like pbjs's --path.
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    return path.join(protoDir, target);
  };
  root.loadSync(files, { keepCase: false, alternateCommentMode: true }).resolveAll();
  return root;
}

/** The generated files by name, in memory. */
export async function generateFiles(protoDir: string = PROTO_DIR): Promise<Map<string, string>> {
  return withNumberLongs(() => generateFilesNow(protoDir));
}

async function generateFilesNow(protoDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const set of MODULE_SETS) {
    for (const [name, text] of await generateSet(protoDir, set)) out.set(name, text);
  }
  return out;
}

async function generateSet(protoDir: string, set: ModuleSet): Promise<Map<string, string>> {
  const files = await listProtoFiles(protoDir, set.dir);
  const pbjsArgs = (comments: boolean) => [
    '--target',
    'static-module',
    '--wrap',
    'esm',
    '--dependency',
    RUNTIME_IMPORT,
    '--root',
    set.root,
    '--path',
    protoDir,
    '--force-number',
    '--alt-comment',
    '--no-service',
    ...(comments ? [] : ['--no-comments']),
    ...files,
  ];
  // pbts reads the types from the JSDoc, so the declarations come from a commented run.
  const dts = await runPbts(await runPbjs(pbjsArgs(true)), ['--import', `\\$protobuf=${RUNTIME_IMPORT}`]);
  const js = await runPbjs(pbjsArgs(false));
  return new Map([
    [set.services, emitServices(loadRoot(files, protoDir), `./${set.module}.js`)],
    [`${set.module}.d.ts`, finishDeclarations(dts)],
    [`${set.module}.js`, finishModule(js, `${set.module}.js`)],
  ]);
}

/** Regenerates into `outDir` (default proto/gen/) and returns the file names written. */
export async function generate(outDir: string = DEFAULT_OUT_DIR, protoDir: string = PROTO_DIR): Promise<string[]> {
  const generated = await generateFiles(protoDir);
  await mkdir(outDir, { recursive: true });
  for (const [name, text] of generated) {
    await writeFile(path.join(outDir, name), text, 'utf8');
  }
  return [...generated.keys()];
}

if (import.meta.main) {
  const written = await generate();
  process.stdout.write(`proto: wrote ${written.map((name) => path.join('proto/gen', name)).join(', ')}\n`);
}
