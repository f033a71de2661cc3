import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The dependency rules of DESIGN.md section 1, checked on the import statements of every source file.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(root, dir));
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'gen') continue;
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (/\.ts$/.test(name) && !/\.test\.ts$/.test(name) && !name.endsWith('test-kit.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): { spec: string; target: string | undefined }[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => {
    const spec = (m[1] ?? m[2] ?? m[3]) as string;
    return { spec, target: spec.startsWith('.') ? relative(root, resolve(root, dirname(file), spec)) : undefined };
  });
}

const top = (path: string) => path.split('/')[0];

t.test('common/ is pure: no Sigil component, no sockets, files, NATS or gRPC', async (t) => {
  const banned = /^(node:)?(net|tls|fs|fs\/promises|dgram|child_process)$|^nats$|^@grpc\/grpc-js$/;
  for (const file of sources('common')) {
    for (const { spec, target } of imports(file)) {
      if (target) t.ok(['common', 'proto'].includes(top(target) ?? ''), `${file} imports ${spec}`);
      else t.notOk(banned.test(spec), `${file} imports ${spec}`);
    }
  }
});

t.test('control-plane and sidecar never import each other', async (t) => {
  for (const [component, other] of [
    ['control-plane', 'sidecar'],
    ['sidecar', 'control-plane'],
  ] as const) {
    for (const file of sources(component)) {
      for (const { spec, target } of imports(file)) {
        if (target) t.not(top(target), other, `${file} imports ${spec}`);
        if (target)
          t.notOk(['cli', 'examples', 'bench', 'test'].includes(top(target) ?? ''), `${file} imports ${spec}`);
      }
    }
  }
});

// Entry points by role (issue 18): index.ts is each component's whole library; a command that needs only a client
// imports the light entry for it, so that it does not load (and pay start-up time and memory for) the CA, the store
// or the proxies. A new entry point belongs in this list, with a line in its header saying what it leaves out.
const ENTRY_POINTS = new Set([
  'control-plane/index.ts',
  'control-plane/admin.ts',
  'control-plane/signing.ts',
  'control-plane/lifecycle.ts',
  'sidecar/index.ts',
  'sidecar/run.ts',
  'sidecar/identity-client.ts',
  'sidecar/workload-api-client.ts',
]);

t.test('cli, examples and bench use components only through their entry points', async (t) => {
  for (const dir of ['cli', 'examples', 'bench']) {
    for (const file of sources(dir)) {
      for (const { spec, target } of imports(file)) {
        if (!target) continue;
        const component = top(target);
        if (component === 'control-plane' || component === 'sidecar')
          t.ok(ENTRY_POINTS.has(target), `${file} imports ${spec}, which is not an entry point`);
      }
    }
  }
});
