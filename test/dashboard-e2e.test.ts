import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { bundleDashboard } from '../cli/launcher/bundle-dashboard.ts';
import type { CliIo } from '../cli/io.ts';
import { runCli } from '../cli/program.ts';
import { ControlPlane } from '../control-plane/index.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { freePort, startNatsServer } from './fixtures/nats-server.ts';
import { REPO_ROOT } from './fixtures/processes.ts';
import { type RunningSidecar, startSidecar } from './fixtures/sidecar-fixture.ts';
import { testLogger } from './fixtures/test-logger.ts';

// Issue 13 items 3 and 4, end to end in headless Chromium (Debian's chromium driven by playwright-core): sign in
// through the one-time URL of `sigil dashboard login`, watch a sidecar appear, revoke its SVID from the browser
// (the sidecar gets the revocation, the page updates without a reload), explain a decision as `sigil policy explain`
// does, find every action under the right admin in the audit log, and keep live updates across a control-plane
// restart. Each page is photographed into docs/dashboard/ on the way.
const TD = 'example.org';
const ADMIN = `spiffe://${TD}/sigil/admin/default`;
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const SHOTS = join(REPO_ROOT, 'docs', 'dashboard');

const nats = await startNatsServer();
const assets = await mkdtemp(join(tmpdir(), 'sigil-dashboard-ui-'));
bundleDashboard(assets);
const dataDir = await mkdtemp(join(tmpdir(), 'sigil-cp-'));
const dashboardPort = await freePort();
const cp = await startControlPlane({
  dataDir,
  natsServers: [nats.url],
  policyDefaultAction: 'deny',
  configYaml: `dashboard: { listen: 127.0.0.1:${dashboardPort} }\n`,
  dashboardAssetsDir: assets,
});
let controlPlane = cp.controlPlane;
const sidecars: RunningSidecar[] = [];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
t.teardown(async () => {
  await browser.close();
  for (const s of sidecars) await s.stop();
  cp.admin.close();
  await controlPlane.stop();
  await nats.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(assets, { recursive: true, force: true });
});

async function sigil(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dataDir,
  };
  const code = await runCli([...argv, '--data-dir', dataDir], io);
  return { code, stdout, stderr };
}

async function shoot(page: Page, name: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Client-side navigation: the page (and its marker) stays, as a person clicking the menu. */
async function open(page: Page, label: string, heading: string): Promise<void> {
  await page.getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { name: heading, level: 2 }).waitFor();
}

const policyFile = join(dataDir, 'policy.yaml');
await writeFile(
  policyFile,
  `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: web-to-api }\nspec:\n  destination: ${API}\n  allow:\n    - from: ${WEB}\n      ports: [8443]\n`,
);
t.equal((await sigil('policy', 'apply', '-f', policyFile)).code, 0, 'a policy is applied');

t.test('the dashboard in a browser', async (t) => {
  const login = await sigil('dashboard', 'login');
  t.equal(login.code, 0, login.stderr);
  const url = login.stdout.trim();
  t.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${dashboardPort}/login\\?token=[A-Za-z0-9_-]{43}$`));

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(url);
  await page.getByRole('heading', { name: 'Overview', level: 2 }).waitFor();
  t.equal(new URL(page.url()).pathname, '/', 'the login URL leads to the overview, the token gone from the bar');
  await page.getByRole('banner').getByText(ADMIN).waitFor();
  await page.locator('.live.live').waitFor();
  const [cookie] = await context.cookies();
  t.match(cookie, { name: 'sigil_session', httpOnly: true, sameSite: 'Strict' }, 'the session cookie');
  // A marker in the page's memory: still there at the end means no reload happened.
  await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));

  await open(page, 'Sidecars', 'Sidecars');
  const sidecar = await startSidecar(cp, { spiffeId: WEB, natsServers: [nats.url], trustRefreshInterval: '1h' });
  sidecars.push(sidecar);
  const serial = sidecar.sidecar.credentials.current?.material.serial ?? '';
  const row = page.locator(`tr[data-spiffe-id="${WEB}"]`);
  await row.waitFor();
  t.match(await row.textContent(), serial, 'the sidecar appeared in the fleet view by itself, with its SVID serial');
  await shoot(page, 'sidecars');

  const reached = new Promise<void>((resolve) => {
    const off = sidecar.sidecar.revocation.onChange((set) => {
      if (set.isRevoked(serial, WEB)) {
        off();
        resolve();
      }
    });
  });
  await row.getByRole('button', { name: 'Revoke SVID' }).click();
  const dialog = page.getByRole('form', { name: 'revoke' });
  t.ok(
    await dialog.getByRole('button', { name: 'Revoke' }).isDisabled(),
    'nothing is revoked before the serial is typed',
  );
  await dialog.locator('input[name=confirm]').fill(serial.slice(0, -1));
  t.ok(await dialog.getByRole('button', { name: 'Revoke' }).isDisabled(), 'nor with a serial that is not quite it');
  await dialog.locator('input[name=confirm]').fill(serial);
  await shoot(page, 'revoke-confirmation');
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await reached;
  t.pass('the revocation made in the browser reached the sidecar');
  await page
    .getByRole('status')
    .filter({ hasText: `Revoked ${serial}` })
    .waitFor();

  await open(page, 'Revocations', 'Revocations');
  await page.getByText(serial).waitFor();
  const other = await sigil(
    'revoke',
    '--spiffe-id',
    `spiffe://${TD}/ns/batch/sa/cron`,
    '--reason',
    'cessationOfOperation',
  );
  t.equal(other.code, 0, other.stderr);
  await page.getByText(`spiffe://${TD}/ns/batch/sa/cron`).waitFor();
  t.pass('a revocation made elsewhere (the CLI) appeared on the open page by server-sent events');
  await shoot(page, 'revocations');

  await open(page, 'Policies', 'Policies');
  const form = page.getByRole('form', { name: 'explain' });
  await form.locator('input[name=from]').fill(WEB);
  await form.locator('input[name=to]').fill(API);
  await form.locator('input[name=port]').fill('8443');
  await form.getByRole('button', { name: 'Explain' }).click();
  const answer = await form.getByRole('status').textContent();
  const cli = await sigil('policy', 'explain', '--from', WEB, '--to', API, '--port', '8443', '--json');
  const expected = JSON.parse(cli.stdout) as { decision: string; policy: string; explanation: string };
  t.match(answer, expected.decision.toUpperCase(), 'the same decision as sigil policy explain');
  t.match(answer, expected.policy);
  t.match(answer, expected.explanation, 'and the same explanation');
  await shoot(page, 'policies');

  await open(page, 'Inventory', 'Inventory');
  await page.locator('table.inventory tbody tr').first().waitFor();
  await page.getByPlaceholder('name, serial, SPIFFE ID, DNS name').fill(serial);
  await page.locator('table.inventory tbody tr', { hasText: serial }).click();
  await page.getByRole('complementary', { name: 'certificate detail' }).getByText('revoked').first().waitFor();
  await shoot(page, 'inventory');

  for (const [label, heading, name] of [
    ['CA', 'CA and rotation', 'ca'],
    ['Alerts', 'Alerts', 'alerts'],
    ['Audit log', 'Audit log', 'audit'],
    ['Overview', 'Overview', 'overview'],
  ] as const) {
    await open(page, label, heading);
    if (name === 'overview') await page.locator('.chart canvas').waitFor();
    if (name === 'audit') await page.getByText('policy.explain').first().waitFor();
    await shoot(page, name);
  }

  const listed = await sigil('audit', 'list', '--actor', ADMIN, '--json');
  t.equal(listed.code, 0, listed.stderr);
  const audit = JSON.parse(listed.stdout) as { action: string; target: string; result: string }[];
  const actions = audit.map((e) => `${e.action} ${e.target} ${e.result}`);
  t.ok(
    actions.includes('dashboard.login-url dashboard ok'),
    'sigil audit list: the login URL made by sigil dashboard login',
  );
  t.ok(actions.includes('dashboard.login dashboard ok'), 'the sign-in, with the admin identity');
  t.ok(actions.includes(`revoke serial ${serial} ok`), 'the revocation from the browser');
  t.ok(actions.includes(`policy.explain ${WEB} -> ${API}:8443 ok`), 'the explain query');

  t.same(cspViolations, [], 'the pages run under the CSP without a violation');
  t.equal(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded), true, 'no reload');

  await t.test('live updates come back after a control-plane restart', async (t) => {
    await open(page, 'Revocations', 'Revocations');
    await controlPlane.stop();
    await page.locator('.live.reconnecting').waitFor();
    controlPlane = new ControlPlane(
      { config: cp.config, passphrase: TEST_PASSPHRASE },
      { logger: testLogger('control-plane'), dashboardAssetsDir: assets },
    );
    await controlPlane.start();
    await page.locator('.live.live').waitFor();
    t.pass('the open page reconnected with the session it had');
    const again = await sigil('revoke', '--spiffe-id', `spiffe://${TD}/ns/batch/sa/report`, '--reason', 'superseded');
    t.equal(again.code, 0, again.stderr);
    await page.getByText(`spiffe://${TD}/ns/batch/sa/report`).waitFor();
    t.equal(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded), true);
  });
  await context.close();
});
