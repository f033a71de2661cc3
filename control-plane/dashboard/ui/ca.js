import { useState } from 'preact/hooks';
import { post } from './api.js';
import { ErrorNote, html, Loading, relative, time } from './format.js';
import { useData } from './live.js';

const PHASES = ['steady', 'prepared', 'activated'];

function Generation({ title, g }) {
  if (!g) return null;
  return html`<div class="card"><h4>${title}</h4>
    <div>Root <code>${g.root.serial.slice(0, 16)}</code> until ${time(g.root.notAfter)}</div>
    <div>Intermediate <code>${g.intermediate.serial.slice(0, 16)}</code> until ${time(g.intermediate.notAfter)}
      (${relative(g.intermediate.notAfter)})</div>
    ${g.rootKeyOnline === false ? html`<div class="muted">Root key offline</div>` : ''}</div>`;
}

function RotationOrderForm() {
  const [target, setTarget] = useState({ kind: 'spiffeId', value: '', window: '5' });
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const body = {
        ...(target.kind === 'all' ? { all: true } : { [target.kind]: target.value }),
        windowMs: Number(target.window) * 60_000,
      };
      setResult(await post('/api/rotate', body));
    } catch (err) {
      setResult(null);
      setError(err);
    }
  };
  return html`<form onSubmit=${submit} aria-label="rotation order">
    <select value=${target.kind} onChange=${(e) => setTarget({ ...target, kind: e.currentTarget.value })}>
      <option value="spiffeId">one SPIFFE ID</option><option value="prefix">a prefix</option><option value="all">all</option>
    </select>
    ${
      target.kind === 'all'
        ? ''
        : html`<input value=${target.value} placeholder="spiffe://…" onInput=${(e) => setTarget({ ...target, value: e.currentTarget.value })} />`
    }
    <label>within <input class="short" value=${target.window} onInput=${(e) => setTarget({ ...target, window: e.currentTarget.value })} /> min</label>
    <button type="submit">Order rotation</button>
    <${ErrorNote} error=${error} />
    ${result ? html`<p role="status">Order ${result.orderId}: ${result.targets.length} target(s) renew with new keys.</p>` : ''}
  </form>`;
}

export function CaPage() {
  const { data, error } = useData('/api/ca', ['ca', 'fleet']);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  return html`<section>
    <h2>CA and rotation</h2>
    <ol class="phases">${PHASES.map((p) => html`<li class=${p === data.phase ? 'current' : ''}>${p}</li>`)}</ol>
    <p>Trust domain <b>${data.trustDomain}</b> · bundle sequence ${data.bundleSequence}
      ${data.scheduled?.step && data.scheduled.step !== 'none' ? html` · next automatic step <b>${data.scheduled.step}</b> ${relative(data.scheduled.at)}` : ''}</p>
    <div class="cards">
      <${Generation} title="Current" g=${data.current} />
      <${Generation} title="Next" g=${data.next} />
      <${Generation} title="Previous" g=${data.previous} />
    </div>
    <h3>Trust bundle</h3>
    <ul>${data.bundle.map((c) => html`<li>${c.subject} <small>until ${time(c.notAfter)}</small></li>`)}</ul>
    <h3>Blockers of retire</h3>
    ${
      data.retireBlockers.length === 0
        ? html`<p class="muted">Nothing blocks retiring the previous root.</p>`
        : html`<table><thead><tr><th>SPIFFE ID</th><th>Serial</th><th>Kind</th><th>Expires</th></tr></thead><tbody>
          ${data.retireBlockers.map((b) => html`<tr><td>${b.spiffeId}</td><td><code>${b.serial}</code></td><td>${b.kind}</td><td>${relative(b.notAfter)}</td></tr>`)}
        </tbody></table>`
    }
    <h3>Rotation order</h3>
    <p class="muted">Workloads renew with new keys at random moments inside the window.</p>
    <${RotationOrderForm} />
  </section>`;
}
