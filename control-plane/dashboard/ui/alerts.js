import { useState } from 'preact/hooks';
import { post } from './api.js';
import { ErrorNote, html, Loading, time } from './format.js';
import { useData } from './live.js';

export function AlertsPage() {
  const { data, error, reload } = useData('/api/alerts', ['alerts', 'audit']);
  const [failure, setFailure] = useState(null);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  const acknowledge = async (alertId) => {
    try {
      await post('/api/alert-ack', { alertId });
      reload();
    } catch (err) {
      setFailure(err);
    }
  };
  return html`<section>
    <h2>Alerts</h2>
    <${ErrorNote} error=${failure} />
    <table><thead><tr><th>Raised</th><th>Severity</th><th>Threshold</th><th>Message</th><th>State</th><th></th></tr></thead>
      <tbody>${data.alerts.map(
        (a) => html`<tr class=${a.resolvedAt ? 'resolved' : a.severity}>
          <td>${time(a.raisedAt)}</td><td>${a.severity}</td><td>${a.threshold}</td><td>${a.message}</td>
          <td>${a.resolvedAt ? `resolved (${a.resolution})` : a.acknowledged ? `acknowledged by ${a.acknowledged.by}` : 'open'}</td>
          <td>${!a.resolvedAt && !a.acknowledged ? html`<button onClick=${() => acknowledge(a.alertId)}>Acknowledge</button>` : ''}</td>
        </tr>`,
      )}</tbody></table>
    ${data.alerts.length === 0 ? html`<p class="muted">No alerts: nothing expires soon without a successor.</p>` : ''}
  </section>`;
}
