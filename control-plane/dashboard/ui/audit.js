import { useState } from 'preact/hooks';
import { html, Loading, time } from './format.js';
import { useData } from './live.js';

export function AuditPage() {
  const [actor, setActor] = useState('');
  const [after, setAfter] = useState('');
  const params = new URLSearchParams({ limit: 100, ...(actor ? { actor } : {}), ...(after ? { after } : {}) });
  const { data, error } = useData(`/api/audit?${params}`, ['audit']);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  if (!data.kept)
    return html`<section><h2>Audit log</h2><p class="muted">This control plane keeps no audit log yet.</p></section>`;
  return html`<section>
    <h2>Audit log</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <input type="search" placeholder="actor (spiffe://…/sigil/admin/…)" value=${actor}
        onInput=${(e) => {
          setActor(e.currentTarget.value);
          setAfter('');
        }} />
    </form>
    <table class="audit"><thead><tr><th>Time</th><th>Actor</th><th>Action</th><th>Target</th><th>Result</th><th>Detail</th><th>Request</th></tr></thead>
      <tbody>${data.entries.map(
        (
          e,
        ) => html`<tr class=${e.result}><td>${time(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.target}</td>
          <td>${e.result}</td><td>${e.detail ?? ''}</td><td><code>${String(e.requestId).slice(0, 8)}</code></td></tr>`,
      )}</tbody></table>
    <div class="pager">
      ${after ? html`<button onClick=${() => setAfter('')}>First page</button>` : ''}
      ${data.next ? html`<button onClick=${() => setAfter(data.next)}>Next page</button>` : ''}
    </div>
  </section>`;
}
