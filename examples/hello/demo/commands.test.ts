import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, sigilLauncher } from './commands.ts';

t.test('findNatsServer looks on PATH, then in the system directories', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-find-nats-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [onPath, system, empty] = ['path', 'sbin', 'empty'].map((d) => join(dir, d)) as [string, string, string];
  for (const d of [onPath, system, empty]) mkdirSync(d);
  for (const d of [onPath, system]) {
    writeFileSync(join(d, 'nats-server'), '#!/bin/sh\n');
    chmodSync(join(d, 'nats-server'), 0o755);
  }
  writeFileSync(join(empty, 'nats-server'), 'not executable');
  t.equal(findNatsServer(`${empty}:${onPath}`, [system]), join(onPath, 'nats-server'), 'PATH first, executables only');
  t.equal(findNatsServer(empty, [system]), join(system, 'nats-server'), "Debian's /usr/sbin when PATH lacks it");
  t.equal(findNatsServer(empty, [join(dir, 'missing')]), undefined, 'absent: undefined, and the demo shows gRPC');
});

t.test('sigilLauncher runs package.json\'s "bin" on this Node', async (t) => {
  const { node, script } = sigilLauncher();
  t.equal(node, process.execPath);
  t.match(script, /sigil\.js$/);
});
