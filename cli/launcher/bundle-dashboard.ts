// Bundles the dashboard's front-end (control-plane/dashboard/ui: Preact, htm, uPlot) into app.js and app.css with
// esbuild, for the control plane to serve. Run by the build (into dist/dashboard-ui); tests bundle into a scratch
// directory. Nothing is fetched from a CDN: everything the pages run is in these two files.
//
//   node cli/launcher/bundle-dashboard.ts [--out-dir DIR]      (default: dist/dashboard-ui)
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DASHBOARD_UI_DIR = 'control-plane/dashboard/ui';

/** The front-end's source files (repository-relative): a change to one makes the build stale. */
export function dashboardSources(root = REPO_ROOT): string[] {
  return readdirSync(join(root, DASHBOARD_UI_DIR))
    .filter((name) => /\.(js|css)$/.test(name))
    .map((name) => `${DASHBOARD_UI_DIR}/${name}`)
    .sort();
}

/** Synchronous, like the rest of the build; esbuild is a devDependency, loaded only here. */
export function bundleDashboard(outDir: string, root = REPO_ROOT): void {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: { app: join(root, DASHBOARD_UI_DIR, 'main.js') },
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    legalComments: 'linked',
    outdir: outDir,
    logLevel: 'silent',
  });
}

if (import.meta.main) {
  const at = process.argv.indexOf('--out-dir');
  const outDir = resolve(at === -1 ? join(REPO_ROOT, 'dist', 'dashboard-ui') : (process.argv[at + 1] as string));
  try {
    bundleDashboard(outDir);
    process.stdout.write(`bundled the dashboard into ${outDir}\n`);
  } catch (err) {
    process.stderr.write(`bundle-dashboard: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
