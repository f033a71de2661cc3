import { randomBytes } from 'node:crypto';
import type { FakeClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import type {
  DashboardAudit,
  DashboardAuditEntry,
  DashboardData,
  InventoryPageQuery,
  JsonObject,
  RevokeRequest,
  RotateRequest,
} from './dashboard-data.ts';
import { DashboardServer } from './dashboard-server.ts';
import { LoginTokens } from './login-tokens.ts';
import { SessionCodec } from './session-codec.ts';

export class RecordingAudit implements DashboardAudit {
  readonly entries: DashboardAuditEntry[] = [];
  async record(entry: DashboardAuditEntry): Promise<void> {
    this.entries.push(entry);
  }
}

/** A dashboard's data in memory: admins by serial, a fleet of names, revocations as they are asked for. */
export class FakeDashboardData implements DashboardData {
  readonly activeAdmins = new Set<string>();
  readonly revoked: RevokeRequest[] = [];
  readonly rotations: RotateRequest[] = [];
  readonly #listeners = new Set<(topic: string) => void>();

  readonly signedOut = new Map<string, number>();

  async adminActive(serial: string) {
    return this.activeAdmins.has(serial);
  }
  async sessionSignedOut(sessionId: string) {
    return this.signedOut.has(sessionId);
  }
  async signOut(sessionId: string, until: number) {
    this.signedOut.set(sessionId, until);
  }
  async overview() {
    return { sidecars: 1 };
  }
  async sidecars() {
    return { sidecars: [{ spiffeId: 'spiffe://example.org/web' }] };
  }
  async inventory(query: InventoryPageQuery) {
    return { entries: [], total: 0, offset: query.offset ?? 0 };
  }
  async certificate(id: string): Promise<JsonObject | undefined> {
    return id === 'known' ? { id } : undefined;
  }
  async policies() {
    return { version: 0, versions: [] };
  }
  async policyVersion(): Promise<JsonObject | undefined> {
    return undefined;
  }
  async explain(from: string, to: string, port: number) {
    return { decision: 'deny', from, to, port };
  }
  async policyDryRun() {
    return { applied: false };
  }
  async revocations() {
    return { serials: [], identities: [] };
  }
  async ca() {
    return { phase: 'steady' };
  }
  async alerts() {
    return { alerts: [] };
  }
  async audit() {
    return { entries: [] };
  }
  async revoke(request: RevokeRequest) {
    if (request.serial === 'protected') throw new SigilError(ErrorCode.REVOKE_PROTECTED, 'not that one');
    this.revoked.push(request);
    this.changed('revocations');
    return { revokedSerials: [request.serial ?? ''] };
  }
  async rotate(request: RotateRequest) {
    this.rotations.push(request);
    return { orderId: 'o1' };
  }
  async acknowledge(alertId: string) {
    return { alertId };
  }
  watch(listener: (topic: string) => void) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  changed(topic: string): void {
    for (const l of this.#listeners) l(topic);
  }
}

export const ADMIN = { spiffeId: 'spiffe://example.org/sigil/admin/alice', serial: 'a1' };

/** A started dashboard on a random loopback port, with its fakes. */
export async function startDashboard(
  clock: FakeClock,
  options: {
    key?: Buffer;
    trustDomain?: string;
    data?: FakeDashboardData;
    audit?: RecordingAudit;
    tls?: { certFile: string; keyFile: string };
  } = {},
) {
  const data = options.data ?? new FakeDashboardData();
  data.activeAdmins.add(ADMIN.serial);
  const audit = options.audit ?? new RecordingAudit();
  const trustDomain = options.trustDomain ?? 'example.org';
  const server = new DashboardServer(
    { listen: { host: '127.0.0.1', port: 0 }, trustDomain, assetsDir: '/nonexistent', tls: options.tls },
    {
      data,
      audit,
      codec: new SessionCodec({ key: options.key ?? randomBytes(32), trustDomain }),
      loginTokens: new LoginTokens({ clock }),
      clock,
      logger: silentLogger(),
    },
  );
  const address = await server.start();
  return { server, data, audit, base: `http://127.0.0.1:${address.port}` };
}

/** Logs in through a fresh one-time URL and returns the session cookie ("name=value"). */
export async function login(server: DashboardServer): Promise<string> {
  const res = await fetch(server.mintLogin(ADMIN).url, { redirect: 'manual' });
  const cookie = res.headers.get('set-cookie');
  if (res.status !== 303 || !cookie) throw new Error(`login failed: ${res.status}`);
  return cookie.split(';')[0] as string;
}
