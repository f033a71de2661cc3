import { useState } from 'preact/hooks';
import { html, Loading, relative, time } from './format.js';
import { useData } from './live.js';
import { RevokeDialog } from './revoke-dialog.js';

const PAGE = 50;
const COLUMNS = [
  ['name', 'Name'],
  ['source', 'Source'],
  ['kind', 'Kind'],
  ['status', 'Status'],
  ['notAfter', 'Expires'],
];

function CertificateDetail({ id, onClose }) {
  const { data, error, reload } = useData(`/api/certificate?id=${encodeURIComponent(id)}`, ['revocations']);
  const [revoking, setRevoking] = useState(false);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  return html`<aside class="detail" aria-label="certificate detail">
    <button class="close" onClick=${onClose}>Close</button>
    <h3>${data.name}</h3>
    <dl>
      <dt>Serial</dt><dd><code>${data.serial}</code></dd>
      <dt>Status</dt><dd>${data.status}${data.revocation ? ` (${data.revocation.reason})` : ''}</dd>
      <dt>Subject</dt><dd>${data.subject || '—'}</dd>
      <dt>Issuer</dt><dd>${data.issuer}</dd>
      <dt>Valid</dt><dd>${time(data.notBefore)} → ${time(data.notAfter)}</dd>
      <dt>Key</dt><dd>${data.keyAlgorithm} ${data.keyBits}</dd>
      <dt>Signature</dt><dd>${data.signatureAlgorithm}</dd>
      <dt>Names</dt><dd>${[...data.uris, ...data.dnsNames, ...data.ips].join(', ') || '—'}</dd>
      <dt>SHA-256</dt><dd><code>${data.fingerprintSha256}</code></dd>
    </dl>
    <h4>Chain</h4>
    ${
      data.chain.length === 0
        ? html`<p class="muted">Issued by this CA (its chain is the CA's bundle).</p>`
        : html`<ol>${data.chain.map((c) => html`<li>${c.subject} <small>(until ${time(c.notAfter)})</small></li>`)}</ol>`
    }
    <h4>Findings</h4>
    ${
      data.findings.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<ul>${data.findings.map((f) => html`<li class=${f.severity}><b>${f.ruleId}</b> ${f.message}</li>`)}</ul>`
    }
    ${
      data.status === 'active' && data.source === 'issued'
        ? revoking
          ? html`<${RevokeDialog} serial=${data.serial} onCancel=${() => setRevoking(false)}
            onDone=${() => {
              setRevoking(false);
              reload();
            }} />`
          : html`<button class="danger" onClick=${() => setRevoking(true)}>Revoke…</button>`
        : ''
    }
  </aside>`;
}

export function InventoryPage() {
  const [q, setQ] = useState('');
  const [source, setSource] = useState('');
  const [status, setStatus] = useState('');
  const [sort, setSort] = useState({ by: 'notAfter', order: 'asc' });
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState(null);
  const params = new URLSearchParams({ q, source, status, sort: sort.by, order: sort.order, offset, limit: PAGE });
  const { data, error } = useData(`/api/inventory?${params}`, ['inventory', 'revocations', 'fleet']);
  const sortBy = (by) => {
    setSort((s) => ({ by, order: s.by === by && s.order === 'asc' ? 'desc' : 'asc' }));
    setOffset(0);
  };
  const filter = (set) => (e) => {
    set(e.currentTarget.value);
    setOffset(0);
  };
  return html`<section>
    <h2>Inventory</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <input type="search" placeholder="name, serial, SPIFFE ID, DNS name" value=${q} onInput=${filter(setQ)} />
      <select value=${source} onChange=${filter(setSource)} aria-label="source">
        ${['', 'issued', 'imported', 'discovered', 'acme', 'code-signing'].map((s) => html`<option value=${s}>${s || 'any source'}</option>`)}
      </select>
      <select value=${status} onChange=${filter(setStatus)} aria-label="status">
        ${['', 'active', 'expired', 'revoked', 'superseded'].map((s) => html`<option value=${s}>${s || 'any status'}</option>`)}
      </select>
    </form>
    ${selected ? html`<${CertificateDetail} id=${selected} onClose=${() => setSelected(null)} />` : ''}
    ${
      !data
        ? html`<${Loading} data=${data} error=${error} />`
        : html`<p class="muted">${data.total} certificates · page ${Math.floor(offset / PAGE) + 1} of
          ${Math.max(1, Math.ceil(data.total / PAGE))} · served in ${data.serverMs} ms</p>
        <table class="inventory"><thead><tr>
          ${COLUMNS.map(
            ([key, label]) => html`<th><button class="sort" onClick=${() => sortBy(key)}>${label}
              ${sort.by === key ? (sort.order === 'asc' ? '▲' : '▼') : ''}</button></th>`,
          )}<th>Serial</th>
        </tr></thead><tbody>
          ${data.entries.map(
            (e) => html`<tr class=${`clickable ${e.status}`} onClick=${() => setSelected(e.id)}>
              <td>${e.name}</td><td>${e.source}</td><td>${e.kind || '—'}</td><td>${e.status}</td>
              <td title=${time(e.notAfter)}>${relative(e.notAfter)}</td><td><code>${e.serial}</code></td>
            </tr>`,
          )}
        </tbody></table>
        <div class="pager">
          <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Previous</button>
          <button disabled=${offset + PAGE >= data.total} onClick=${() => setOffset(offset + PAGE)}>Next</button>
        </div>`
    }
  </section>`;
}
