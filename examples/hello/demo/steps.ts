import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { callThrough } from '../web.ts';
import { type LogLine, timeOf } from './log-file.ts';
import type { Measures } from './measures.ts';
import type { DemoProcess } from './processes.ts';
import { type DemoShell, say } from './shell.ts';
import { API_ID, type Ports, type Sidecar, WEB_ID } from './topology.ts';

/** What the steps work on: the running processes, their ports, and where the numbers go. */
export interface Stage {
  readonly shell: DemoShell;
  readonly ports: Ports;
  readonly cp: DemoProcess;
  readonly api: Sidecar;
  readonly web: Sidecar;
  readonly measures: Measures;
  /** How long to wait for a change to reach the sidecars before calling the demo failed. */
  readonly propagationTimeoutMs: number;
}

const callWeb = (ports: Ports) =>
  callThrough({ host: '127.0.0.1', port: ports.web }, '/call').catch((err: Error) => ({
    status: 0,
    body: err.message,
  }));

function waitLog(stage: Stage, p: DemoProcess, msg: string, from: number, extra: (l: LogLine) => boolean = () => true) {
  return p.log.waitFor((l) => l.msg === msg && extra(l), `"${msg}" in ${p.name}'s log`, {
    from,
    alive: p.alive,
    timeoutMs: stage.propagationTimeoutMs,
  });
}

const sidecars = (stage: Stage) => [stage.api, stage.web];

/**
 * When the control plane received the `rpc` request (its debug line, logged before any work): what each push is
 * measured from. Lines logged after the work would come after the push itself.
 */
async function received(stage: Stage, rpc: string, from: number): Promise<number> {
  return timeOf(await waitLog(stage, stage.cp, 'request received', from, (l) => l['rpc'] === rpc));
}

export async function deniedByDefault(stage: Stage): Promise<void> {
  const { shell, ports, api } = stage;
  const from = api.process.log.mark();
  const reply = await callWeb(ports);
  say(`    $ curl http://127.0.0.1:${ports.web}/call\n      HTTP ${reply.status} ${reply.body.trim()}`);
  const refused = await waitLog(stage, api.process, 'connection refused', from);
  say(
    `    api sidecar log: connection refused (${String(refused['reason'])}) ${String(refused['peerId'])}: ${String(refused['detail'])}`,
  );
  if (reply.status === 200) throw new Error('a call went through with no policy allowing it');
  // Exit 1 on DENY, for scripts.
  await shell.sigil(['policy', 'explain', '--from', WEB_ID, '--to', API_ID], { okExitCodes: [0, 1] });
}

export async function applyPolicy(stage: Stage): Promise<void> {
  const { shell, ports, cp, api, measures } = stage;
  const yaml = [
    'apiVersion: sigil.dev/v1',
    'kind: AllowPolicy',
    'metadata: { name: web-to-api }',
    'spec:',
    `  destination: ${API_ID}`,
    '  allow:',
    `    - from: ${WEB_ID}`,
  ];
  writeFileSync(join(shell.stateDir, 'web-to-api.yaml'), `${yaml.join('\n')}\n`);
  say(`    web-to-api.yaml:\n${yaml.map((l) => `      ${l}`).join('\n')}`);
  const [cpFrom, apiFrom] = [cp.log.mark(), api.process.log.mark()];
  const command = await shell.sigil(['policy', 'apply', '-f', 'web-to-api.yaml']);
  const version = Number(/applied policy version (\d+)/.exec(command.stdout)?.[1]);
  const applied = await waitLog(
    stage,
    api.process,
    'allow-policies updated',
    apiFrom,
    (l) => Number(l['policy_version']) >= version,
  );
  measures.policyMs = timeOf(applied) - (await received(stage, 'ApplyPolicies', cpFrom));
  measures.policyCommandMs = timeOf(applied) - command.startedAt;
  say(
    `    the api sidecar applied policy version ${version} (${String(applied['source'])}) ${measures.policyMs} ms after the control plane received it` +
      ` (${measures.policyCommandMs} ms after the command started, most of it Node starting the CLI)`,
  );
  const reply = await callWeb(ports);
  say(`    $ curl http://127.0.0.1:${ports.web}/call\n      HTTP ${reply.status} ${reply.body.trim()}`);
  if (reply.status !== 200) throw new Error('the call allowed by the new policy did not go through');
}

/** Resolves with the time the last sidecar logged a matching line. */
async function lastOfSidecars(stage: Stage, msg: string, marks: number[], extra: (l: LogLine) => boolean) {
  const lines = await Promise.all(sidecars(stage).map((s, i) => waitLog(stage, s.process, msg, marks[i]!, extra)));
  return Math.max(...lines.map(timeOf));
}

export async function rotateCa(stage: Stage): Promise<void> {
  const { shell, ports, cp, measures } = stage;
  const calls = { ok: 0, failed: 0 };
  let calling = true;
  const loop = (async () => {
    while (calling) {
      const r = await callWeb(ports);
      if (r.status === 200) calls.ok++;
      else calls.failed++;
    }
  })();
  const marks = () => sidecars(stage).map((s) => s.process.log.mark());
  try {
    say('    (a loop keeps calling web -> api through all three steps)');
    let cpFrom = cp.log.mark();
    let from = marks();
    await shell.sigil(['ca', 'rotate', 'prepare'], { quiet: true });
    const prepared = await received(stage, 'RotateCa', cpFrom);
    measures.bundleMs = (await lastOfSidecars(stage, 'trust bundle updated', from, (l) => l['roots'] === 2)) - prepared;
    say(`    both sidecars trust the old and the new root ${measures.bundleMs} ms after prepare`);

    cpFrom = cp.log.mark();
    from = marks();
    await shell.sigil(['ca', 'rotate', 'activate', '--within', '2s', '--force'], { quiet: true });
    const activated = await received(stage, 'RotateCa', cpFrom);
    measures.renewedMs = (await lastOfSidecars(stage, 'SVID renewed', from, () => true)) - activated;
    say(`    both sidecars renewed with new keys under the new intermediate ${measures.renewedMs} ms after activate`);

    cpFrom = cp.log.mark();
    from = marks();
    await shell.sigil(['ca', 'rotate', 'retire'], { quiet: true });
    const retired = await received(stage, 'RotateCa', cpFrom);
    measures.retireMs = (await lastOfSidecars(stage, 'trust bundle updated', from, (l) => l['roots'] === 1)) - retired;
    say(`    the old root left every bundle ${measures.retireMs} ms after retire`);
  } finally {
    calling = false;
    await loop;
  }
  measures.calls = calls;
  say(`    the call loop made ${calls.ok + calls.failed} calls through the rotation, ${calls.failed} failed`);
  if (calls.failed > 0 || calls.ok === 0) throw new Error('calls failed during the CA rotation');
}

/** A keep-alive connection through the web sidecar, answered once; resolves when it is open. */
function openKeepAlive(port: number): Promise<{ closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now())));
    socket.once('error', reject);
    socket.on('connect', () => socket.write('GET /greeting HTTP/1.1\r\nhost: api\r\nconnection: keep-alive\r\n\r\n'));
    socket.once('data', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      resolve({ closed });
    });
  });
}

export async function revokeWeb(stage: Stage): Promise<void> {
  const { shell, ports, cp, api, measures } = stage;
  const open = await openKeepAlive(ports.webOutbound);
  say(`    a keep-alive connection web -> api is open (127.0.0.1:${ports.webOutbound}) and has been answered`);
  const [cpFrom, apiFrom] = [cp.log.mark(), api.process.log.mark()];
  await shell.sigil(['revoke', '--spiffe-id', WEB_ID, '--reason', 'keyCompromise']);
  const revoked = await received(stage, 'Revoke', cpFrom);
  const enforced = await waitLog(
    stage,
    api.process,
    'revocation state updated',
    apiFrom,
    (l) => Number(l['revoked_identities']) >= 1,
  );
  await waitLog(stage, api.process, 'closed live connections of revoked peers', apiFrom);
  const closedAt = await open.closed;
  measures.revocationMs = timeOf(enforced) - revoked;
  measures.connectionClosedMs = closedAt - revoked;
  say(
    `    the api sidecar enforced the revocation ${measures.revocationMs} ms after the control plane received it, and the open connection was closed ${measures.connectionClosedMs} ms after`,
  );
  const reply = await callWeb(ports);
  say(`    $ curl http://127.0.0.1:${ports.web}/call\n      HTTP ${reply.status} ${reply.body.trim()}`);
  if (reply.status === 200) throw new Error('a revoked caller got through');
}
