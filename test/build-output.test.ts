import t from 'tap';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from '../cli/launcher/build.ts';
import { echoServer } from './fixtures/net.ts';
import {
  importChain,
  packagesOf,
  projectFiles,
  readRecordedModules,
  RECORDER_PATH,
  runRecordingModules,
} from './fixtures/loaded-modules.ts';
import { Child, REPO_ROOT, run } from './fixtures/processes.ts';

// Issue 18, "done when": the Docker image runs the compiled output, and a test starts the sidecar from the build
// output. Without a Docker daemon on the test machine, this does what the Dockerfile's build stage does: it copies
// exactly the files that stage copies into a scratch directory inside the repository (so that node_modules resolves)
// and runs cli/launcher/build.ts there, the command that stage and `npm run build` run. Then it runs the CLI, the control
// plane and a sidecar from that build as processes, as the image's entry point does, and records what they loaded.
const TD = 'build.example';
const APP_ID = `spiffe://${TD}/ns/default/sa/app`;
const env = { SIGIL_CA_PASSPHRASE: 'build-output passphrase' };

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

const portOf = (address: unknown): number => Number(String(address).split(':').pop());

interface DockerStage {
  readonly lines: string[];
  /** Sources of the COPY instructions that copy from the build context (not --from another stage). */
  readonly contextCopies: string[];
}

function dockerStages(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (/^FROM\s/i.test(line)) stages.push({ lines: [], contextCopies: [] });
    const stage = stages.at(-1);
    if (!stage) continue;
    stage.lines.push(line);
    const copy = /^COPY\s+(?!--from)(.+)$/i.exec(line);
    if (copy) stage.contextCopies.push(...copy[1]!.split(/\s+/).slice(0, -1));
  }
  return stages;
}

t.test('the Dockerfile builds dist/ in a first stage and the image runs only the compiled CLI', async (t) => {
  const [buildStage, image] = dockerStages(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  t.ok(buildStage?.lines.includes('RUN node cli/launcher/build.ts'), 'the build stage runs the build script');
  t.ok(image?.lines.includes('COPY --from=build /opt/sigil/dist ./dist'), 'the image takes dist/ from it');
  t.ok(image?.lines.includes('ENTRYPOINT ["node", "dist/cli/sigil.js"]'), 'and runs the compiled CLI');
  t.notOk(
    image?.contextCopies.some((source) => /^(cli|common|control-plane|sidecar|proto)$/.test(source)),
    'no TypeScript source of Sigil in the image',
  );
  t.match(image?.lines.join('\n') ?? '', /npm ci --omit=dev/, 'production dependencies only');
});

t.test('the control plane and a sidecar run from the build output', async (t) => {
  const stageDir = join(REPO_ROOT, 'tmp', `docker-build-stage-${process.pid}`);
  const outDir = join(stageDir, 'dist');
  const dir = await mkdtemp(join(tmpdir(), 'sigil-build-output-'));
  const children: Child[] = [];
  t.teardown(async () => {
    for (const child of children.reverse()) await child.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(stageDir, { recursive: true, force: true });
  });

  const [buildStage] = dockerStages(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  for (const source of buildStage?.contextCopies ?? []) {
    if (source.startsWith('package')) continue; // package.json and the lock file: node_modules is the repository's
    mkdirSync(dirname(join(stageDir, source)), { recursive: true });
    cpSync(join(REPO_ROOT, source), join(stageDir, source), {
      recursive: true,
      filter: (path) => !path.endsWith('.test.ts'),
    });
  }
  const built = build({ root: stageDir, outDir });
  t.ok(built.files > 50, `built ${built.files} files`);
  const cli = join(outDir, 'cli', 'sigil.js');
  t.ok(existsSync(cli), 'the CLI entry is JavaScript');
  t.notOk(existsSync(join(outDir, 'bench', 'run.js')), 'benchmarks stay out of the build');
  const sigil = (args: string[], options: { env?: Record<string, string> } = {}) =>
    run(process.execPath, [cli, ...args], { env: { ...env, ...options.env }, cwd: dir });

  await t.test('--help from the build loads commander and the compiled declarations only', async (t) => {
    const help = await runRecordingModules([cli, '--help']);
    t.equal(help.code, 0, help.stderr);
    t.same([...packagesOf(help.modules)], ['commander']);
    const files = projectFiles(help.modules).filter((file) => file !== relative(REPO_ROOT, RECORDER_PATH));
    t.same(
      files.filter((file) => !file.startsWith(relative(REPO_ROOT, outDir)) || !file.endsWith('.js')),
      [],
      'every Sigil module came from the build, none from the .ts sources',
    );
  });

  await t.test(
    'the compiled event verifier starts its worker from the build (a .js file, not the .ts source)',
    async (t) => {
      const compiled = pathToFileURL(join(outDir, 'sidecar', 'trust', 'event-verifier.js')).href;
      const { EventVerifier } = (await import(compiled)) as typeof import('../sidecar/trust/event-verifier.ts');
      const verifier = new EventVerifier({ trustDomain: TD });
      t.teardown(() => verifier.close());
      await verifier.start();
      const verdict = await new Promise((resolve) => {
        t.ok(verifier.submit(`sigil.${TD}.bundle`, Uint8Array.of(1, 2, 3), [], Date.now(), resolve), 'queued');
      });
      t.match(verdict, { ok: false, reason: 'malformed' }, 'the worker read the message (no verifier-failed)');
    },
  );

  const data = join(dir, 'data');
  const init = await sigil(['ca', 'init', '--trust-domain', TD, '--data-dir', data]);
  t.equal(init.code, 0, `ca init from the build: ${init.stderr}`);
  await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
  const cpModuleLog = join(dir, 'control-plane-modules.json');
  const cp = new Child(['--import', RECORDER_PATH, cli, 'control-plane', 'run', '--config', join(dir, 'cp.yaml')], {
    env: { ...env, SIGIL_MODULE_LOG: cpModuleLog },
    cwd: dir,
  });
  children.push(cp);
  const cpAddress = String((await cp.waitForMessage('control plane started'))['grpc']);

  const token = await sigil(['token', 'create', '--data-dir', data, '--spiffe-id', APP_ID, '--json']);
  t.equal(token.code, 0, token.stderr);
  await writeFile(join(dir, 'app.token'), (JSON.parse(token.stdout) as { token: string }).token, { mode: 0o600 });
  const adminId = `spiffe://${TD}/sigil/admin/default`; // the admin `ca init` mints
  await writeFile(
    join(dir, 'policy.yaml'),
    `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: admin-to-app }\nspec:\n  destination: ${APP_ID}\n  allow:\n    - from: ${adminId}\n`,
  );
  const applied = await sigil(['policy', 'apply', '--data-dir', data, '-f', join(dir, 'policy.yaml')]);
  t.equal(applied.code, 0, applied.stderr);

  const app = await echoServer();
  t.teardown(() => new Promise<void>((resolve) => app.close(() => resolve())));
  await writeFile(
    join(dir, 'sidecar.yaml'),
    [
      `spiffeId: ${APP_ID}`,
      `controlPlane: { address: "${cpAddress}", bundle: ./data/bundle.pem }`,
      'joinToken: { file: ./app.token }',
      `inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${app.port} }`,
      'admin: { listen: 127.0.0.1:0 }',
      'drainTimeout: 1s',
    ].join('\n'),
  );
  const moduleLog = join(dir, 'sidecar-modules.json');
  const sidecar = new Child(['--import', RECORDER_PATH, cli, 'sidecar', 'run', '--config', join(dir, 'sidecar.yaml')], {
    env: { ...env, SIGIL_MODULE_LOG: moduleLog },
    cwd: dir,
  });
  children.push(sidecar);
  const started = await sidecar.waitForMessage('sidecar started');

  await t.test('the compiled sidecar attests, serves and proxies an mTLS call', async (t) => {
    t.equal(await get(portOf(started['admin']), '/readyz'), 200, 'ready');
    const [host, port] = String((started['inbound'] as string[])[0]).split(':');
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host,
        port: Number(port),
        cert: readFileSync(join(data, 'admin', 'svid.pem')),
        key: readFileSync(join(data, 'admin', 'key.pem')),
        ca: readFileSync(join(data, 'bundle.pem')),
        // SVIDs name a SPIFFE ID, not a host; the sidecar's identity is not what this test is about.
        checkServerIdentity: () => undefined,
      });
      socket.once('secureConnect', () => socket.write('ping'));
      socket.once('data', (chunk) => {
        resolve(chunk.toString());
        socket.destroy();
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`closed without an answer; sidecar log:\n${sidecar.stdout}`)));
    });
    t.equal(echoed, 'ping', 'the app answered through the sidecar');
  });

  await t.test('the sidecar relaunched itself with the small-footprint V8 flags, keeping its pid', async (t) => {
    const cmdline = readFileSync(`/proc/${sidecar.process.pid}/cmdline`, 'utf8').split('\0');
    t.ok(cmdline.includes('--max-semi-space-size=1'), cmdline.join(' '));
    t.ok(cmdline.includes(RECORDER_PATH), 'the Node options it was started with are kept');
  });

  await t.test('the sidecar loaded no CA, store or other control-plane code, and no .ts source', async (t) => {
    t.equal(await sidecar.stop(), 0, 'SIGTERM drains and exits 0');
    const modules = await readRecordedModules(moduleLog);
    const build = relative(REPO_ROOT, outDir);
    const files = projectFiles(modules).filter((file) => file !== relative(REPO_ROOT, RECORDER_PATH));
    t.ok(files.includes(join(build, 'sidecar', 'run.js')), 'the compiled sidecar');
    t.notOk(packagesOf(modules).has('nats'), 'no NATS client without natsServers configured');
    t.same(
      modules
        .filter((m) => m.url.startsWith('file:') && /\/control-plane\//.test(fileURLToPath(m.url)))
        .map((m) => importChain(modules, m.url)),
      [],
      'no control-plane module',
    );
    t.same(
      files.filter((file) => !file.startsWith(build) || !file.endsWith('.js')),
      [],
      'every Sigil module from the build',
    );
    t.notOk(
      modules.some((m) => m.url === 'node:sqlite'),
      'no SQLite',
    );
  });

  t.equal(await cp.stop(), 0, 'the control plane stops cleanly');
  const cpPackages = packagesOf(await readRecordedModules(cpModuleLog));
  t.ok(cpPackages.has('@grpc/grpc-js'), 'the control plane module list was recorded');
  t.notOk(
    cpPackages.has('acme-client') || cpPackages.has('axios'),
    'no ACME library without an ACME server to talk to',
  );
});
