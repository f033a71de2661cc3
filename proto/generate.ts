// Regenerates proto/gen/ from every .proto under proto/sigil/ (`npm run proto`):
//   sigil.js + sigil.d.ts  protobufjs static classes (pbjs static-module, ESM) and their types (pbts);
//   services.ts            typed @grpc/grpc-js definitions and clients (emit-services.ts).
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

/** Every .proto under proto/sigil/, as sorted absolute paths. */
export async function listProtoFiles(protoDir: string = PROTO_DIR): Promise<string[]> {
  const entries = await readdir(path.join(protoDir, 'sigil'), { recursive: true });
  const files = entries.filter((entry) => entry.endsWith('.proto')).map((entry) => path.join(protoDir, 'sigil', entry));
  if (files.length === 0) throw new Error(`no .proto files under ${path.join(protoDir, 'sigil')}`);
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

function finishModule(js: string): string {
  const importLine = `import $protobuf from "${RUNTIME_IMPORT}";`;
  const body = replaceOnce(js, importLine, importLine + NUMBER_LONGS_PRELUDE, 'the protobufjs/minimal.js import');
  return `${GENERATED_HEADER}\n${body.trimEnd()}\n`;
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
  const files = await listProtoFiles(protoDir);
  const js = await runPbjs([
    '--target',
    'static-module',
    '--wrap',
    'esm',
    '--dependency',
    RUNTIME_IMPORT,
    '--root',
    'sigil',
    '--path',
    protoDir,
    '--force-number',
    '--alt-comment',
    '--no-service',
    ...files,
  ]);
  const dts = await runPbts(js, ['--import', `\\$protobuf=${RUNTIME_IMPORT}`]);
  return new Map([
    ['services.ts', emitServices(loadRoot(files, protoDir))],
    ['sigil.d.ts', finishDeclarations(dts)],
    ['sigil.js', finishModule(js)],
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
