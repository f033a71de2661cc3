import t from 'tap';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sigilLauncher } from '../examples/hello/demo/commands.ts';
import { pidsWithEnv } from './fixtures/environ.ts';
import { freePort } from './fixtures/nats-server.ts';
import { REPO_ROOT, run } from './fixtures/processes.ts';

// Issue 22: docs/getting-started.md cannot rot. Its ```sh blocks run in order in one bash, in a temporary directory,
// with other ports; the ```text block after a ```sh block is output that block must print (in order, `…` matching
// anything, runs of spaces any whitespace).
const DOC = join(REPO_ROOT, 'docs', 'getting-started.md');
const MARKER = 'SIGIL_TUTORIAL_TEST';
/** The ports the tutorial uses; the test swaps each for a free one so that it runs beside anything else. */
const PORTS = [14222, 7443, 7080, 8080, 15443, 15000, 15001, 15100];

interface Block {
  readonly code: string;
  readonly expected: string[];
}

function tutorialBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  for (const m of markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    const [, lang, body] = m as unknown as [string, string, string];
    if (lang === 'sh') blocks.push({ code: body, expected: [] });
    else if (lang === 'text' && blocks.length > 0) blocks.at(-1)!.expected.push(...body.split('\n').filter(Boolean));
  }
  return blocks;
}

function linePattern(expected: string): RegExp {
  const pieces = expected.split('…').map((p) =>
    p
      .trim()
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\s+/g, '\\s+'),
  );
  return new RegExp(`^\\s*${pieces.join('.*?')}\\s*$`);
}

/** Every expected line matches some output line (in any order: processes started together log in any order). */
function firstMissing(output: string, expected: readonly string[]): string | undefined {
  const lines = output.split('\n');
  return expected.find((e) => !lines.some((l) => linePattern(e).test(l)));
}

t.test('every shell block of docs/getting-started.md runs and prints what the page shows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-tutorial-'));
  t.teardown(async () => {
    for (const pid of pidsWithEnv(MARKER, dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  // The page runs from the project directory (../../examples/… from tmp/tutorial) with `npx sigil` and `npx node`; here a stand-in npx
  // runs the package's launcher on this Node, which is the pinned one.
  symlinkSync(join(REPO_ROOT, 'examples'), join(dir, 'examples'));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  const { node, script } = sigilLauncher();
  writeFileSync(
    join(bin, 'npx'),
    [
      '#!/bin/sh',
      `if [ "$1" = sigil ]; then shift; exec '${node}' '${script}' "$@"; fi`,
      `if [ "$1" = node ]; then shift; exec '${node}' "$@"; fi`,
      'echo "the tutorial test knows only npx sigil and npx node" >&2; exit 2',
    ].join('\n'),
  );
  chmodSync(join(bin, 'npx'), 0o755);

  let markdown = readFileSync(DOC, 'utf8');
  for (const port of PORTS) markdown = markdown.replaceAll(new RegExp(`\\b${port}\\b`, 'g'), String(await freePort()));
  const blocks = tutorialBlocks(markdown);
  t.ok(blocks.length >= 6, `the page has its shell blocks (${blocks.length})`);
  // Job control on, as in the reader's interactive shell: `kill %N` stops a job's whole process group.
  const script_ = [
    'set -exm',
    // On a line of its own even after output without a final newline (curl -s).
    ...blocks.map((b, i) => `printf '\\n@@block ${i}@@\\n'\n${b.code}`),
    `printf '\\n@@block ${blocks.length}@@\\n'`,
  ].join('\n');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGIL_')));
  // A block that hangs (a readiness loop that never ends) fails the test with the output so far, not a timeout.
  const hung = setTimeout(() => {
    for (const pid of pidsWithEnv(MARKER, dir)) process.kill(pid, 'SIGKILL');
  }, 280_000); // under tap's per-file timeout (package.json), so the output so far is reported
  const r = await run('bash', ['-c', script_], {
    cwd: dir,
    env: { ...env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, [MARKER]: dir },
  }).finally(() => clearTimeout(hung));
  const outputs = r.stdout.split(/^@@block \d+@@\n/m).slice(1);
  t.equal(r.code, 0, `bash exits 0${r.code === 0 ? '' : ` in block ${outputs.length - 1}:\n${r.stdout}\n${r.stderr}`}`);
  t.equal(outputs.length, blocks.length + 1, 'every block ran');
  blocks.forEach((block, i) => {
    const missing = firstMissing(outputs[i] ?? '', block.expected);
    t.equal(missing, undefined, `block ${i} prints what the page shows\n${block.code}\n--- got:\n${outputs[i]}`);
  });
  t.same(pidsWithEnv(MARKER, dir), [], 'the clean-up block stopped every process the page started');
});

t.test('the README quick start links the tutorial, and every example has a README', async (t) => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const quickStart = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  t.match(quickStart, '(docs/getting-started.md)', 'the quick start links docs/getting-started.md');
  for (const entry of readdirSync(join(REPO_ROOT, 'examples'), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const text = readFileSync(join(REPO_ROOT, 'examples', entry.name, 'README.md'), 'utf8');
    t.match(text, /^# /, `examples/${entry.name}/README.md exists and has a title`);
  }
});
