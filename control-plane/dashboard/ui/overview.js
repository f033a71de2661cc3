import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html, Loading, relative, time } from './format.js';
import { useData } from './live.js';

const TOPICS = ['fleet', 'revocations', 'policies', 'ca', 'alerts', 'inventory'];

/** The next expiries on a time axis: each point is one certificate, the line how many expire by then. */
function ExpiryTimeline({ entries }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || entries.length === 0) return;
    const xs = entries.map((e) => e.notAfter / 1000);
    const ys = entries.map((_e, i) => i + 1);
    const plot = new uPlot(
      {
        width: Math.max(320, ref.current.clientWidth),
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { label: 'certificates expired by then' }],
        series: [{}, { label: 'expiring', stroke: '#c0392b', points: { show: true, size: 6 } }],
      },
      [xs, ys],
      ref.current,
    );
    return () => plot.destroy();
  }, [entries]);
  return html`<div class="chart" ref=${ref} aria-label="expiry timeline"></div>`;
}

export function OverviewPage() {
  const { data, error } = useData('/api/overview', TOPICS);
  if (!data) return html`<${Loading} data=${data} error=${error} />`;
  const status = data.certificates.byStatus;
  return html`<section>
    <h2>Overview</h2>
    <div class="cards">
      <div class="card"><span class="figure">${data.sidecars.total}</span> sidecars
        ${data.sidecars.stale > 0 ? html`<span class="stale"> (${data.sidecars.stale} stale)</span>` : ''}</div>
      <div class="card"><span class="figure">${status.active ?? 0}</span> active certificates
        <small>of ${data.certificates.total}</small></div>
      <div class="card"><span class="figure">${data.openAlerts}</span> open alerts</div>
      <div class="card"><span class="figure">${status.revoked ?? 0}</span> revoked
        <small>CRL #${data.revocations.crlNumber}</small></div>
      <div class="card"><span class="figure">v${data.policyVersion}</span> policies</div>
      <div class="card"><span class="figure">${data.ca.phase}</span> CA
        <small>intermediate until ${time(data.ca.intermediateNotAfter)}</small></div>
    </div>
    <h3>Next expiries</h3>
    <${ExpiryTimeline} entries=${data.nextExpiries} />
    <table><thead><tr><th>Name</th><th>Source</th><th>Expires</th></tr></thead><tbody>
      ${data.nextExpiries
        .slice(0, 8)
        .map(
          (e) =>
            html`<tr><td>${e.name}</td><td>${e.source}</td><td title=${time(e.notAfter)}>${relative(e.notAfter, data.now)}</td></tr>`,
        )}
    </tbody></table>
    <h3>Alerts</h3>
    ${
      data.alerts.length === 0
        ? html`<p class="muted">No open alerts.</p>`
        : html`<ul>${data.alerts.map((a) => html`<li class=${a.severity}>${a.message}</li>`)}</ul>`
    }
  </section>`;
}
