import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AlertsPage } from './alerts.js';
import { get, post, setCsrfToken } from './api.js';
import { AuditPage } from './audit.js';
import { CaPage } from './ca.js';
import { html } from './format.js';
import { InventoryPage } from './inventory.js';
import { connectLive, useLiveStatus } from './live.js';
import { OverviewPage } from './overview.js';
import { PoliciesPage } from './policies.js';
import { RevocationsPage } from './revocations.js';
import { SidecarsPage } from './sidecars.js';

const PAGES = [
  ['/', 'Overview', OverviewPage],
  ['/sidecars', 'Sidecars', SidecarsPage],
  ['/inventory', 'Inventory', InventoryPage],
  ['/policies', 'Policies', PoliciesPage],
  ['/revocations', 'Revocations', RevocationsPage],
  ['/ca', 'CA', CaPage],
  ['/alerts', 'Alerts', AlertsPage],
  ['/audit', 'Audit log', AuditPage],
];

function App({ session }) {
  const [path, setPath] = useState(location.pathname);
  const live = useLiveStatus();
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const go = (to) => (event) => {
    event.preventDefault();
    history.pushState(null, '', to);
    setPath(to);
  };
  const logout = async () => {
    await post('/api/logout', {});
    location.reload();
  };
  const Page = (PAGES.find(([p]) => p === path) ?? PAGES[0])[2];
  return html`<header>
      <h1>Sigil <small>${session.trustDomain}</small></h1>
      <nav>${PAGES.map(([p, label]) => html`<a href=${p} class=${p === path ? 'active' : ''} onClick=${go(p)}>${label}</a>`)}</nav>
      <div class="who"><span class=${`live ${live}`} title="live updates">${live}</span>
        <span>${session.admin}</span><button onClick=${logout}>Sign out</button></div>
    </header>
    <main><${Page} /></main>`;
}

get('/api/session').then(
  (session) => {
    setCsrfToken(session.csrfToken);
    connectLive();
    render(html`<${App} session=${session} />`, document.getElementById('app'));
  },
  (err) => {
    document.getElementById('app').textContent = `${err.message} Run \`sigil dashboard login\` for a new link.`;
  },
);
