import { html, Loading, time } from './format.js';
import { useData } from './live.js';

export function RevocationsPage() {
  const { data, error } = useData('/api/revocations', ['revocations']);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  return html`<section>
    <h2>Revocations</h2>
    <p>CRL number <b>${data.crlNumber}</b> (served at <code>/crl</code> and pushed to every sidecar).</p>
    <h3>Revoked identities</h3>
    ${
      data.identities.length === 0
        ? html`<p class="muted">None: no SPIFFE ID is revoked as a whole.</p>`
        : html`<table><thead><tr><th>SPIFFE ID</th><th>Reason</th><th>Since</th></tr></thead><tbody>
          ${data.identities.map((r) => html`<tr><td>${r.spiffeId}</td><td>${r.reason}</td><td>${time(r.revokedAt)}</td></tr>`)}
        </tbody></table>`
    }
    <h3>Revoked certificates</h3>
    <table class="revocations"><thead><tr><th>Serial</th><th>SPIFFE ID</th><th>Reason</th><th>Revoked</th><th>Expires</th></tr></thead>
      <tbody>${data.serials.map(
        (r) => html`<tr><td><code>${r.serial}</code></td><td>${r.spiffeId}</td><td>${r.reason}</td>
          <td>${time(r.revokedAt)}</td><td>${time(r.notAfter)}</td></tr>`,
      )}</tbody></table>
    ${data.serials.length === 0 ? html`<p class="muted">No certificate is revoked.</p>` : ''}
  </section>`;
}
