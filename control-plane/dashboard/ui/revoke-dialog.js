import { useState } from 'preact/hooks';
import { post } from './api.js';
import { ErrorNote, html } from './format.js';

const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'];

/** Revocation from the browser: the operator types the serial (or SPIFFE ID) again before it goes. */
export function RevokeDialog({ serial, spiffeId, onDone, onCancel }) {
  const target = serial || spiffeId;
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('keyCompromise');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const body = { ...(serial ? { serial } : { spiffeId }), reason, confirm: typed };
      onDone(await post('/api/revoke', body));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<form class="dialog" onSubmit=${submit} aria-label="revoke">
    <h3>Revoke ${serial ? 'certificate' : 'identity'}</h3>
    <p>This revokes <code>${target}</code> at once: every sidecar refuses it on its next handshake and closes its open
      connections.</p>
    <label>Reason <select value=${reason} onChange=${(e) => setReason(e.currentTarget.value)}>
      ${REASONS.map((r) => html`<option value=${r}>${r}</option>`)}
    </select></label>
    <label>Type <code>${target}</code> to confirm
      <input name="confirm" autocomplete="off" value=${typed} onInput=${(e) => setTyped(e.currentTarget.value)} />
    </label>
    <${ErrorNote} error=${error} />
    <div class="buttons">
      <button type="submit" class="danger" disabled=${busy || typed !== target}>Revoke</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}
