import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ensureSystemPackages, findCommand, type InstallDeps } from './system-packages.ts';

const MISSING = 'sigil-bench-test-no-such-command';

function fakeApt(
  isRoot: boolean,
  onInstall: (args: readonly string[]) => { ok: boolean; output: string },
): InstallDeps & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    isRoot: () => isRoot,
    aptGet: (args) => {
      calls.push([...args]);
      return args[0] === 'install' ? onInstall(args) : { ok: true, output: '' };
    },
  };
}

const requirement = { purpose: 'the test baseline', command: MISSING, packages: ['sigil-test-pkg', 'sigil-test-mod'] };

t.test('what is already there is returned without calling apt-get', async (t) => {
  const deps = fakeApt(true, () => ({ ok: false, output: 'should not run' }));
  const paths = ensureSystemPackages([{ purpose: 'sh', command: 'sh', packages: ['dash'] }], undefined, deps);
  t.equal(paths.get('sh'), findCommand('sh'));
  t.same(deps.calls, []);
});

t.test('missing and not root: refused at once, naming the packages and how to install them', async (t) => {
  const deps = fakeApt(false, () => ({ ok: true, output: '' }));
  t.throws(() => ensureSystemPackages([requirement], undefined, deps), {
    code: 'SIGIL_ERR_UNAVAILABLE',
    message:
      /the test baseline needs Debian packages .* not root: install it with `sudo apt-get install -y sigil-test-pkg sigil-test-mod`/,
  });
  t.same(deps.calls, []);
});

t.test("apt-get failing: one update and one retry, then an error carrying apt-get's last words", async (t) => {
  const deps = fakeApt(true, () => ({
    ok: false,
    output: 'Reading package lists...\nE: Unable to locate package sigil-test-pkg',
  }));
  t.throws(() => ensureSystemPackages([requirement], undefined, deps), {
    code: 'SIGIL_ERR_UNAVAILABLE',
    message:
      /could not install sigil-test-pkg sigil-test-mod for the test baseline .*Unable to locate package sigil-test-pkg/,
  });
  t.same(
    deps.calls.map((c) => c[0]),
    ['install', 'update', 'install'],
  );
});

t.test(
  'apt-get succeeding but the command still missing is a failure too, and so is an unmet extra check',
  async (t) => {
    t.throws(
      () =>
        ensureSystemPackages(
          [requirement],
          undefined,
          fakeApt(true, () => ({ ok: true, output: 'done' })),
        ),
      { message: new RegExp(`${MISSING} not found`) },
    );
    const withModule = {
      purpose: 'sh with a module',
      command: 'sh',
      packages: ['sh-mod'],
      missing: () => 'the module is not installed',
    };
    t.throws(
      () =>
        ensureSystemPackages(
          [withModule],
          undefined,
          fakeApt(true, () => ({ ok: true, output: '' })),
        ),
      { message: /the module is not installed/ },
    );
  },
);

t.test('a package apt-get installs is found afterwards and its path returned', async (t) => {
  const bin = mkdtempSync(join(tmpdir(), 'sigil-bench-pkg-'));
  const path = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
  t.teardown(() => {
    process.env.PATH = path;
    rmSync(bin, { recursive: true, force: true });
  });
  const lines: string[] = [];
  const deps = fakeApt(true, () => {
    writeFileSync(join(bin, MISSING), '#!/bin/sh\n');
    chmodSync(join(bin, MISSING), 0o755);
    return { ok: true, output: '' };
  });
  const paths = ensureSystemPackages([requirement], (l) => lines.push(l), deps);
  t.equal(paths.get(MISSING), join(bin, MISSING));
  t.match(lines.join('\n'), /installing sigil-test-pkg sigil-test-mod with apt-get for the test baseline/);
});
