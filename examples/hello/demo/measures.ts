/** What the demo measured, from the processes' own log timestamps; printed as the final table. */
export interface Measures {
  transport: 'NATS' | 'gRPC refresh';
  attestationMs: { api?: number; web?: number };
  policyMs?: number;
  policyCommandMs?: number;
  bundleMs?: number;
  renewedMs?: number;
  retireMs?: number;
  calls?: { ok: number; failed: number };
  revocationMs?: number;
  connectionClosedMs?: number;
}

const ms = (n: number | undefined): string => (n === undefined ? 'n/a' : `${Math.round(n)} ms`);

export function summaryRows(m: Measures): [string, string][] {
  const via = m.transport === 'NATS' ? 'pushed over NATS' : 'fetched by the gRPC refresh';
  return [
    ['attestation (key, CSR, Attest, validation)', `api ${ms(m.attestationMs.api)}, web ${ms(m.attestationMs.web)}`],
    [`policy in force on the api sidecar after \`policy apply\` (${via})`, ms(m.policyMs)],
    ['  the whole `sigil policy apply` command, Node start-up included', ms(m.policyCommandMs)],
    [`revocation enforced on the api sidecar after \`revoke\` (${via})`, ms(m.revocationMs)],
    ['  the open connection closed after `revoke`', ms(m.connectionClosedMs)],
    ['new root in every bundle after `ca rotate prepare`', ms(m.bundleMs)],
    ['every sidecar renewed under the new CA after `ca rotate activate --within 2s`', ms(m.renewedMs)],
    ['old root gone from every bundle after `ca rotate retire`', ms(m.retireMs)],
    [
      'calls through the CA rotation',
      m.calls === undefined ? 'n/a' : `${m.calls.ok + m.calls.failed} made, ${m.calls.failed} failed`,
    ],
  ];
}

export function formatSummary(m: Measures): string {
  const rows = summaryRows(m);
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => v.length));
  const rule = `    ${'-'.repeat(width)}  ${'-'.repeat(valueWidth)}`;
  return [
    `    measured in this run (${m.transport}), from the processes' log timestamps:`,
    rule,
    ...rows.map(([k, v]) => `    ${k.padEnd(width)}  ${v}`),
    rule,
  ].join('\n');
}
