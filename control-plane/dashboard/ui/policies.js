import { useEffect, useState } from 'preact/hooks';
import { get, post } from './api.js';
import { ErrorNote, html, Loading, time } from './format.js';
import { lineDiff } from './line-diff.js';
import { useData } from './live.js';

const pretty = (policies) => JSON.stringify(policies, null, 2);

function VersionDiff({ versions }) {
  const [from, setFrom] = useState(versions[1]?.version ?? 0);
  const [to, setTo] = useState(versions[0]?.version ?? 0);
  const [lines, setLines] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!from || !to) return;
    Promise.all([get(`/api/policy-version?version=${from}`), get(`/api/policy-version?version=${to}`)]).then(
      ([a, b]) => setLines(lineDiff(pretty(a.policies), pretty(b.policies))),
      setError,
    );
  }, [from, to]);
  const pick = (value, set) =>
    html`<select value=${value} onChange=${(e) => set(Number(e.currentTarget.value))}>
      ${versions.map((v) => html`<option value=${v.version}>v${v.version}</option>`)}</select>`;
  if (versions.length < 2) return html`<p class="muted">One version so far: nothing to compare.</p>`;
  return html`<div>
    <p>Compare ${pick(from, setFrom)} with ${pick(to, setTo)}</p>
    <${ErrorNote} error=${error} />
    ${
      lines
        ? html`<pre class="diff">${lines
            .filter(([op]) => op !== ' ')
            .map(([op, line]) => html`<span class=${op === '+' ? 'added' : 'removed'}>${op} ${line}\n</span>`)}</pre>`
        : ''
    }
  </div>`;
}

function ExplainForm() {
  const [form, setForm] = useState({ from: '', to: '', port: '' });
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const field = (name, label, placeholder) =>
    html`<label>${label} <input name=${name} value=${form[name]} placeholder=${placeholder}
      onInput=${(e) => setForm({ ...form, [name]: e.currentTarget.value })} /></label>`;
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      setAnswer(await post('/api/explain', { from: form.from, to: form.to, port: form.port }));
    } catch (err) {
      setAnswer(null);
      setError(err);
    }
  };
  return html`<form class="explain" onSubmit=${submit} aria-label="explain">
    ${field('from', 'From', 'spiffe://example.org/ns/prod/sa/web')}
    ${field('to', 'To', 'spiffe://example.org/ns/prod/sa/api')}
    ${field('port', 'Port', 'any')}
    <button type="submit">Explain</button>
    <${ErrorNote} error=${error} />
    ${
      answer
        ? html`<div class="answer" role="status">
          <p><b class=${`decision ${answer.decision}`}>${answer.decision.toUpperCase()}</b>
            ${answer.policy ? html` by policy <code>${answer.policy}</code>${answer.rule >= 0 ? ` rule ${answer.rule}` : ''}` : ''}
            (policy version ${answer.policyVersion})</p>
          <p class="explanation">${answer.explanation}</p></div>`
        : ''
    }
  </form>`;
}

function DryRunForm() {
  const [yaml, setYaml] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      setResult(await post('/api/policy-dry-run', { yaml }));
    } catch (err) {
      setResult(null);
      setError(err);
    }
  };
  return html`<form onSubmit=${submit} aria-label="dry run">
    <textarea rows="8" placeholder="apiVersion: sigil.dev/v1 …" value=${yaml}
      onInput=${(e) => setYaml(e.currentTarget.value)}></textarea>
    <button type="submit">Dry run</button>
    <${ErrorNote} error=${error} />
    ${
      result
        ? html`<div class="answer" role="status">
          <p>Would create ${result.created.length}, update ${result.updated.length}, leave ${result.unchanged.length}
            unchanged. Nothing was applied.</p>
          ${result.findings.length ? html`<ul>${result.findings.map((f) => html`<li class=${f.severity}>${f.path}: ${f.message}</li>`)}</ul>` : ''}
          ${
            result.changes.length
              ? html`<table><thead><tr><th>From</th><th>To</th><th>Before</th><th>After</th></tr></thead><tbody>
                ${result.changes.map((c) => html`<tr><td>${c.from}</td><td>${c.to}</td><td>${c.before}</td><td>${c.after}</td></tr>`)}
              </tbody></table>`
              : html`<p class="muted">No decision between known identities changes.</p>`
          }
        </div>`
        : ''
    }
  </form>`;
}

export function PoliciesPage() {
  const { data, error } = useData('/api/policies', ['policies']);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  return html`<section>
    <h2>Policies</h2>
    <p>Version <b>${data.version}</b> in force; default action for destinations no policy names:
      <b>${data.defaultAction}</b>.</p>
    <table><thead><tr><th>Name</th><th>Destination</th><th>Mode</th><th>Rules</th></tr></thead><tbody>
      ${data.policies.map(
        (p) => html`<tr><td>${p.name}</td><td>${p.destination}</td><td>${p.mode}</td>
          <td>${(p.allow ?? []).map((r) => html`<div><code>${r.from}</code>${r.ports?.length ? ` ports ${r.ports.join(', ')}` : ''}</div>`)}</td></tr>`,
      )}
    </tbody></table>
    <h3>Explain a decision</h3>
    <${ExplainForm} />
    <h3>History</h3>
    <ul class="history">${data.versions.map((v) => html`<li>v${v.version} · ${time(v.appliedAt)} · ${v.names.join(', ') || '(none)'}</li>`)}</ul>
    <${VersionDiff} versions=${data.versions} />
    <h3>Dry run</h3>
    <${DryRunForm} />
  </section>`;
}
