// `npm run build` (also run by `npm ci` through the `prepare` script): compiles the production sources to
// JavaScript in dist/, which the `sigil` bin, the Docker image and the sidecar run. Tests and development keep
// running the .ts sources directly; cli/launcher/build-freshness.js decides when dist/ no longer matches them.
//
//   node cli/launcher/build.ts [--out-dir DIR]      (default: dist)
//
// tsc (the project's pinned TypeScript) compiles what tsconfig.build.json includes, rewriting `./x.ts` imports to
// `./x.js`; the generated protobufjs module (proto/gen/sigil.js) is copied. The output is assembled in a temporary
// directory next to the target and swapped in at the end, so a failed build leaves the previous one untouched and a
// `sigil` started during a build sees either the old build or the new one. A type error fails the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_INFO_FILE, stampSources, type BuildInfo } from './build-freshness.js';
import { bundleDashboard, dashboardSources } from './bundle-dashboard.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSCONFIG = 'tsconfig.build.json';
/** Files copied as they are: JavaScript the sources import that tsc does not emit. */
const COPIED = ['proto/gen/sigil.js', 'proto/gen/workload.js'];
/** Files that shape the output besides the sources: a change to one makes the build stale too. */
const BUILD_INPUTS = [
  'tsconfig.json',
  TSCONFIG,
  'cli/launcher/build.ts',
  'cli/launcher/bundle-dashboard.ts',
  'cli/launcher/bundle-admin-client.ts',
];
/** Top-level directories that hold no sources: dependencies, builds (dist, dist.building-N, ...) and scratch. */
const SKIPPED_DIRS = /^(\.|node_modules$|dist|tmp$)/;

export interface BuildResult {
  readonly outDir: string;
  readonly files: number;
}

export class BuildError extends Error {}

/**
 * Every .ts file that could be part of the build, found by walking the tree rather than asked of tsc (which would
 * cost a second compiler run); the build keeps the stamps of those tsc actually emitted.
 */
function candidateSources(root: string, dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return dir === '' && SKIPPED_DIRS.test(entry.name) ? [] : candidateSources(root, path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name), base) : [relative(base, join(dir, entry.name))],
  );
}

function compile(root: string, outDir: string): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, TSCONFIG), '--outDir', outDir], {
    cwd: root,
    encoding: 'utf8',
  });
  if (result.status !== 0)
    throw new BuildError(
      `tsc failed (exit ${result.status ?? result.signal}); dist/ was left as it was:\n${result.stdout}${result.stderr}`,
    );
}

/** The admin commands' client as one file (bundle-admin-client.ts says why), in a process of its own. */
function bundleAdmin(staging: string): void {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'bundle-admin-client.ts');
  const result = spawnSync(process.execPath, [script, staging], { encoding: 'utf8' });
  if (result.status !== 0)
    throw new BuildError(
      `bundling the admin client failed (exit ${result.status ?? result.signal}); dist/ was left as it was:\n${result.stdout}${result.stderr}`,
    );
}

/** Builds into `outDir` (relative to the repository root unless absolute) and returns what it wrote. */
export function build(options: { root?: string; outDir?: string } = {}): BuildResult {
  const root = options.root ?? REPO_ROOT;
  const outDir = resolve(root, options.outDir ?? 'dist');
  // Stamped before compiling: a source edited while tsc runs then counts as changed, never as built.
  const ui = dashboardSources(root);
  const stamps = stampSources(root, [...candidateSources(root), ...COPIED, ...BUILD_INPUTS, ...ui]);
  mkdirSync(dirname(outDir), { recursive: true });
  const staging = `${outDir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    compile(root, staging);
    for (const file of COPIED) copyFileSync(join(root, file), join(staging, file));
    bundleAdmin(staging);
    // The dashboard's front-end, bundled (esbuild) into dashboard-ui/, which the control plane serves.
    bundleDashboard(join(staging, 'dashboard-ui'), root);
    // The nearest package.json decides that .js files are ES modules, also for a build outside the repository tree.
    writeFileSync(join(staging, 'package.json'), '{ "type": "module", "private": true }\n');
    const emitted = new Set(listFiles(staging).map((file) => file.replace(/\.js$/, '.ts')));
    const sources: BuildInfo['sources'] = {};
    for (const [file, stamp] of Object.entries(stamps)) {
      const input = emitted.has(file) || COPIED.includes(file) || BUILD_INPUTS.includes(file) || ui.includes(file);
      if (input && stamp) sources[file] = stamp;
    }
    const info: BuildInfo = { version: 1, sourceRoot: relative(outDir, root) || '.', node: process.version, sources };
    writeFileSync(join(staging, BUILD_INFO_FILE), `${JSON.stringify(info)}\n`);
    const previous = `${outDir}.previous-${process.pid}`;
    if (existsSync(outDir)) renameSync(outDir, previous);
    renameSync(staging, outDir);
    rmSync(previous, { recursive: true, force: true });
    return { outDir, files: emitted.size };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const at = process.argv.indexOf('--out-dir');
  const outDir = at === -1 ? undefined : process.argv[at + 1];
  try {
    const started = performance.now();
    const result = build({ outDir });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `built ${result.files} files into ${relative(process.cwd(), result.outDir)} in ${seconds} s\n`,
    );
  } catch (err) {
    process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
