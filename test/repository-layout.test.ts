import t from 'tap';
import { readdirSync } from 'node:fs';
import { REPO_ROOT } from './fixtures/processes.ts';

// Issue 18: the top level of the repository holds the components, the project's files and configuration, nothing
// else (the launcher and the build script live under cli/launcher/). Git-ignored scratch (node_modules, dist, tmp)
// is left out: it is never committed.
const ALLOWED = new Set([
  'package.json',
  'package-lock.json',
  'control-plane',
  'sidecar',
  'proto',
  'examples',
  'bench',
  'docker-compose.yml',
  'README.md',
  'common',
  'cli',
  'test',
  'docs',
  'biome.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'Dockerfile',
]);
const IGNORED = /^(\.|node_modules$|dist|tmp$)/;

t.test('the top level holds only the components, docs and configuration files', async (t) => {
  const extra = readdirSync(REPO_ROOT).filter((name) => !IGNORED.test(name) && !ALLOWED.has(name));
  t.same(extra, [], 'move anything else under one of the components (scripts and launchers go to cli/)');
});
