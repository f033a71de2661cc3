import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  importChain,
  packagesOf,
  projectFiles,
  runRecordingModules,
  type LoadedModule,
} from './fixtures/loaded-modules.ts';
import { SIGIL_CLI } from './fixtures/processes.ts';

// Issue 18: every `sigil` call loads the command declarations, and each command loads what its action uses when it
// runs (cli/program.ts says how to add a command that way). These runs record every module a real `sigil` process
// loads from the sources; test/build-output.test.ts checks the compiled CLI and the sidecar the same way.

function offenders(modules: readonly LoadedModule[], bad: (file: string) => boolean): string[] {
  return modules
    .filter(({ url }) => url.startsWith('file:') && !url.includes('/node_modules/'))
    .filter((m) => bad(projectFiles([m])[0] ?? ''))
    .map((m) => importChain(modules, m.url));
}

t.test('sigil --help loads the command declarations and commander, nothing else', async (t) => {
  const help = await runRecordingModules([SIGIL_CLI, '--help']);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /Usage: sigil/);
  t.same([...packagesOf(help.modules)], ['commander'], 'no package but commander');
  t.same(
    offenders(help.modules, (file) => /^(control-plane|sidecar|proto)\//.test(file)),
    [],
    'no component code and no wire types (import them inside the action: see cli/program.ts)',
  );
  const builtins = help.modules.map((m) => m.url).filter((url) => /^node:(tls|net|http2?|sqlite)$/.test(url));
  t.same(builtins, [], 'no sockets, TLS or SQLite');
});

t.test('an admin command loads the Admin API client, not the CA, the store or the sidecar', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-admin-modules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // No admin credential in an empty data dir: the command fails once it has loaded the client, before any call.
  const list = await runRecordingModules([SIGIL_CLI, 'certs', 'list', '--data-dir', dir]);
  t.equal(list.code, 1);
  t.match(list.stderr, /admin/);
  const files = projectFiles(list.modules);
  t.ok(files.includes('control-plane/api/admin-client.ts'), 'the client was loaded');
  t.same(
    offenders(
      list.modules,
      (file) =>
        file.startsWith('sidecar/') ||
        file === 'control-plane/index.ts' ||
        file === 'control-plane/server.ts' ||
        /^control-plane\/(store|issuance|revocation|policy|events)\//.test(file) ||
        (file.startsWith('control-plane/ca/') && file !== 'control-plane/ca/write-new-file.ts'),
    ),
    [],
    'nothing of the CA service',
  );
  t.notOk(
    list.modules.some((m) => m.url === 'node:sqlite'),
    'no SQLite',
  );
  t.notOk(packagesOf(list.modules).has('nats'), 'no NATS client');
});

t.test('sidecar run loads the sidecar and nothing of the control plane', async (t) => {
  const run = await runRecordingModules([SIGIL_CLI, 'sidecar', 'run', '--config', '/nonexistent/sidecar.yaml']);
  t.equal(run.code, 1, 'the missing config fails the command after the sidecar was loaded');
  t.ok(projectFiles(run.modules).includes('sidecar/run.ts'));
  // Issue 18: what a sidecar does not use stays unloaded (the NATS client only with natsServers configured).
  t.notOk(packagesOf(run.modules).has('nats'), 'no NATS client');
  t.same(
    offenders(run.modules, (file) => file.startsWith('control-plane/')),
    [],
    'no control-plane module',
  );
  t.notOk(
    run.modules.some((m) => m.url === 'node:sqlite'),
    'no SQLite',
  );
});

t.test('sigil jwt loads the Workload API client, not the sidecar, its server or the control plane', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-jwt-modules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // No socket there: the command fails once it has loaded the client, at the call.
  const fetch = await runRecordingModules([SIGIL_CLI, 'jwt', 'fetch', '--audience', 'a', '--socket', join(dir, 's')]);
  t.equal(fetch.code, 1);
  t.match(fetch.stderr, /Workload API|sidecar/);
  const files = projectFiles(fetch.modules);
  t.ok(files.includes('sidecar/workload-api/workload-api-client.ts'), 'the client was loaded');
  t.same(
    offenders(
      fetch.modules,
      (file) =>
        file.startsWith('control-plane/') ||
        file === 'sidecar/index.ts' ||
        file === 'sidecar/sidecar.ts' ||
        file === 'sidecar/workload-api/workload-api-server.ts',
    ),
    [],
    'nothing of the sidecar or the control plane',
  );
  t.notOk(packagesOf(fetch.modules).has('jose'), 'no JOSE library: the sidecar validates');
});
