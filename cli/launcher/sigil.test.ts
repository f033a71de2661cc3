import t from 'tap';
import { cpSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_INFO_FILE, stampSources, staleReason } from './build-freshness.js';
import { REPO_ROOT, run } from '../../test/fixtures/processes.ts';

// The `sigil` bin runs dist/ only while it matches the sources (issue 18: a developer who edits a .ts file and runs
// `npx sigil` must never get the old code). A scratch repository inside this one (so that package.json's
// "type": "module" applies) with stub entry points that say which one ran.
function scratchRepository(t: { teardown(fn: () => void): void }): {
  root: string;
  touch: (file: string, text?: string) => void;
} {
  const root = join(REPO_ROOT, 'tmp', `launcher-test-${process.pid}-${Math.floor(performance.now())}`);
  mkdirSync(join(root, 'cli'), { recursive: true });
  mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
  cpSync(join(REPO_ROOT, 'cli', 'launcher'), join(root, 'cli', 'launcher'), {
    recursive: true,
    filter: (src) => !src.endsWith('.test.ts'),
  });
  writeFileSync(join(root, 'cli', 'sigil.ts'), "process.stdout.write('from sources\\n');\n");
  writeFileSync(join(root, 'cli', 'program.ts'), 'export {};\n');
  writeFileSync(join(root, 'dist', 'cli', 'sigil.js'), "process.stdout.write('from build\\n');\n");
  const sources = stampSources(root, ['cli/sigil.ts', 'cli/program.ts']);
  writeFileSync(
    join(root, 'dist', BUILD_INFO_FILE),
    JSON.stringify({ version: 1, sourceRoot: '..', node: process.version, sources }),
  );
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const touch = (file: string, text?: string) => {
    if (text !== undefined) writeFileSync(join(root, file), text);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, file), later, later);
  };
  return { root, touch };
}

const launch = (root: string) => run(process.execPath, [join(root, 'cli', 'launcher', 'sigil.js')]);

t.test('staleReason says which source differs from the build, or nothing when none does', async (t) => {
  const cases: {
    name: string;
    change: (s: ReturnType<typeof scratchRepository>) => void;
    reason: RegExp | undefined;
  }[] = [
    { name: 'unchanged', change: () => {}, reason: undefined },
    { name: 'edited (new time)', change: (s) => s.touch('cli/program.ts'), reason: /cli\/program\.ts changed/ },
    {
      name: 'same time, other size',
      change: (s) => {
        const before = stampSources(s.root, ['cli/program.ts'])['cli/program.ts']!;
        writeFileSync(join(s.root, 'cli/program.ts'), 'export const x = 1;\n');
        utimesSync(join(s.root, 'cli/program.ts'), before[0] / 1000, before[0] / 1000);
      },
      reason: /cli\/program\.ts changed/,
    },
    { name: 'deleted', change: (s) => rmSync(join(s.root, 'cli/program.ts')), reason: /cli\/program\.ts was deleted/ },
    {
      name: 'no sources at all (a production image)',
      change: (s) => rmSync(join(s.root, 'cli'), { recursive: true }),
      reason: undefined,
    },
    { name: 'no build', change: (s) => rmSync(join(s.root, 'dist', BUILD_INFO_FILE)), reason: /no build/ },
  ];
  for (const c of cases) {
    const scratch = scratchRepository(t);
    c.change(scratch);
    const reason = staleReason(join(scratch.root, 'dist'));
    if (c.reason) t.match(reason, c.reason, c.name);
    else t.equal(reason, undefined, c.name);
  }
});

t.test('the bin runs the build while it is current and the sources once one changed', async (t) => {
  const scratch = scratchRepository(t);
  t.equal((await launch(scratch.root)).stdout, 'from build\n');
  scratch.touch('cli/program.ts', 'export const edited = true;\n');
  t.equal((await launch(scratch.root)).stdout, 'from sources\n', 'an edited source is never run from the old build');
  rmSync(join(scratch.root, 'dist'), { recursive: true });
  t.equal((await launch(scratch.root)).stdout, 'from sources\n', 'no build at all');
});

// The machine's own node (Debian's, older than the pin) is what a user gets who runs the bin without npx.
const systemNode = await run('/usr/bin/env', ['node', '--version'], { env: { PATH: '/usr/bin:/bin' } });
const systemMajor = Number(/^v(\d+)/.exec(systemNode.stdout)?.[1] ?? Number.NaN);

t.test(
  'the bin refuses a Node older than the pinned one with what to do',
  { skip: systemMajor < 26 ? false : `the machine's own node is ${systemNode.stdout.trim() || 'missing'}` },
  async (t) => {
    const old = await run('/usr/bin/env', ['node', join(REPO_ROOT, 'cli', 'launcher', 'sigil.js'), '--help'], {
      env: { PATH: '/usr/bin:/bin' },
    });
    t.equal(old.code, 1);
    t.match(old.stderr, /needs Node\.js 26 or later, this is v\d+.*npx sigil/);
  },
);
