import { join } from 'node:path';
import { sigilLauncher } from './commands.ts';
import { API_ID, type Ports, WEB_ID } from './topology.ts';

/** Commands, each with its comment aligned after it. */
function tried(rows: readonly [string, string][]): string[] {
  const width = Math.max(...rows.filter(([, why]) => why !== '').map(([c]) => c.length));
  return rows.map(([c, why]) => (why === '' ? `  ${c}` : `  ${c.padEnd(width)}  # ${why}`));
}

/** What `--keep` prints: where everything is and what to try, for a newcomer at a shell. */
export function cheatSheet(options: { stateDir: string; ports: Ports; nats: boolean }): string {
  const { stateDir, ports } = options;
  const { script } = sigilLauncher();
  return [
    'The topology keeps running. Addresses (all on 127.0.0.1):',
    `  control plane   gRPC ${ports.grpc}, HTTP ${ports.http} (/healthz /readyz /metrics /crl)`,
    ...(options.nats ? [`  nats-server     ${ports.nats}`] : []),
    `  api app         ${ports.api}, behind the api sidecar: inbound mTLS ${ports.apiInbound}, admin ${ports.apiAdmin}`,
    `  web app         ${ports.web} (/call calls api), its sidecar: outbound ${ports.webOutbound} -> api, admin ${ports.webAdmin}`,
    '',
    'In another shell, from the project directory (npx sigil runs the pinned Node):',
    `  export SIGIL_DATA_DIR=${join(stateDir, 'data')}`,
    `  export SIGIL_CONTROL_PLANE=127.0.0.1:${ports.grpc}`,
    `  export SIGIL_CA_PASSPHRASE="$(cat ${join(stateDir, 'ca-passphrase')})"   # only ca init and control-plane run need it`,
    '',
    'Things to try:',
    ...tried([
      ['npx sigil certs list', ''],
      [`npx sigil policy explain --from ${WEB_ID} --to ${API_ID}`, ''],
      [`curl -s http://127.0.0.1:${ports.web}/call`, 'web -> web sidecar -> api sidecar -> api'],
      [`curl -s http://127.0.0.1:${ports.webOutbound}/anything`, "straight into the web sidecar's outbound"],
      [`curl -s http://127.0.0.1:${ports.apiAdmin}/readyz`, "the api sidecar's readiness, with reasons"],
      [`curl -s http://127.0.0.1:${ports.apiAdmin}/metrics | grep ^sigil_`, 'its Prometheus metrics'],
      [`npx sigil revoke --spiffe-id ${WEB_ID}`, 'then curl /call again'],
      ['npx sigil ca show', ''],
    ]),
    `  (or, outside the project directory: node ${script} …, with Node 26)`,
    '',
    `Logs: ${join(stateDir, 'logs')}/*.log (JSON lines), e.g. tail -f ${join(stateDir, 'logs', 'api-sidecar.log')}`,
    'Stop everything: npm run demo -- --stop',
  ].join('\n');
}
