import { useState } from 'preact/hooks';
import { html, Loading, relative, time } from './format.js';
import { useData } from './live.js';
import { RevokeDialog } from './revoke-dialog.js';

const current = (ok, known) => (known !== true ? '—' : ok ? '✓' : '✗ behind');

export function SidecarsPage() {
  const { data, error, reload } = useData('/api/sidecars', ['fleet', 'revocations']);
  const [revoking, setRevoking] = useState(null);
  const [done, setDone] = useState(null);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  return html`<section>
    <h2>Sidecars</h2>
    <p class="muted">Stale: not heard from for ${data.staleAfterMs / 60000} min.
      ${data.fromFleet ? '' : ' (Fleet view not kept by this control plane: live SVIDs shown.)'}</p>
    ${done ? html`<p class="notice" role="status">Revoked ${done.revokedSerials.join(', ')} (CRL #${done.crlNumber}).</p>` : ''}
    ${
      revoking
        ? html`<${RevokeDialog} serial=${revoking} onCancel=${() => setRevoking(null)}
          onDone=${(r) => {
            setRevoking(null);
            setDone(r);
            reload();
          }} />`
        : ''
    }
    <table class="fleet"><thead><tr>
      <th>SPIFFE ID</th><th>Instance</th><th>Version</th><th>SVID serial</th><th>SVID expires</th><th>Last seen</th>
      <th>Bundle</th><th>CRL</th><th>Policy</th><th></th>
    </tr></thead><tbody>
      ${data.sidecars.map(
        (s) => html`<tr class=${s.stale ? 'stale' : ''} data-spiffe-id=${s.spiffeId}>
          <td>${s.spiffeId}</td><td><code>${String(s.instanceId ?? '').slice(0, 12)}</code></td>
          <td>${s.sidecarVersion || '—'}</td><td><code>${s.svidSerial}</code></td>
          <td title=${time(s.svidNotAfter)}>${relative(s.svidNotAfter)}</td>
          <td title=${time(s.lastSeenAt)}>${relative(s.lastSeenAt)}${s.stale ? ' (stale)' : ''}</td>
          <td>${current(s.bundleCurrent, s.versionsKnown)}</td><td>${current(s.crlCurrent, s.versionsKnown)}</td>
          <td>${current(s.policyCurrent, s.versionsKnown)}</td>
          <td><button class="danger" onClick=${() => setRevoking(s.svidSerial)}>Revoke SVID</button></td>
        </tr>`,
      )}
    </tbody></table>
    ${data.sidecars.length === 0 ? html`<p class="muted">No sidecar has contacted this control plane yet.</p>` : ''}
  </section>`;
}
