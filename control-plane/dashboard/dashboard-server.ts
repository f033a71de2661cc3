import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { nodeHttp } from '../../common/node-http.ts';
import { createServer as createHttpsServer } from 'node:https';
import { formatHostPort, type HostPort } from '../../common/address.ts';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { SourceRateLimit } from '../api/source-rate-limit.ts';
import { apiHandler } from './api-routes.ts';
import type { DashboardAudit, DashboardData } from './dashboard-data.ts';
import { EventStream } from './event-stream.ts';
import type { LoginTokens } from './login-tokens.ts';
import { readBody, refusalPage, securityHeaders, sendJson, wantsHtml } from './responses.ts';
import { SESSION_IDLE_MS, type Session, type SessionAdmin, type SessionCodec } from './session-codec.ts';
import { GATE_MESSAGES, SessionGate } from './session-gate.ts';
import { StaticAssets } from './static-assets.ts';

export interface DashboardServerOptions {
  readonly listen: HostPort;
  /** PEM files; set: HTTPS, HSTS and Secure cookies. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Base of login URLs when browsers reach the dashboard through a proxy; default: the listen address. */
  readonly publicUrl?: string | undefined;
  readonly trustDomain: string;
  /** The bundled front-end (app.js, app.css); see cli/launcher/bundle-dashboard.ts. */
  readonly assetsDir: string;
}

export interface DashboardServerDeps {
  readonly data: DashboardData;
  readonly audit: DashboardAudit;
  readonly codec: SessionCodec;
  readonly loginTokens: LoginTokens;
  readonly clock: Clock;
  readonly logger: Logger;
}

const BODY_MAX_BYTES = 256 * 1024;
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const HTTP_STATUS: Partial<Record<string, number>> = {
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.UNAVAILABLE]: 503,
  [ErrorCode.REVOKE_PROTECTED]: 409,
  [ErrorCode.CA_ROTATION_STATE]: 409,
  [ErrorCode.CA_ROTATION_BLOCKED]: 409,
};

/**
 * The operator dashboard: pages, a JSON API and a server-sent event stream on their own listener. Nothing but the
 * login exchange answers without a session; every state-changing request also needs the session's CSRF token.
 * Refusals are audited (at a bounded rate per source, so a scanner cannot flood the log).
 */
export class DashboardServer {
  readonly #options: DashboardServerOptions;
  readonly #deps: DashboardServerDeps;
  readonly #https: boolean;
  readonly #server: Server;
  readonly #gate: SessionGate;
  readonly #assets: StaticAssets;
  readonly #events: EventStream;
  readonly #refusalAudit: SourceRateLimit;
  #address: HostPort | undefined;

  constructor(options: DashboardServerOptions, deps: DashboardServerDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#https = options.tls !== undefined;
    this.#gate = new SessionGate({ codec: deps.codec, data: deps.data, clock: deps.clock, https: this.#https });
    this.#assets = new StaticAssets(options.assetsDir);
    this.#events = new EventStream({ data: deps.data, clock: deps.clock });
    this.#refusalAudit = new SourceRateLimit({ limit: 20, windowMs: 10_000, maxSources: 1000 }, { clock: deps.clock });
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.#handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err, [LogField.errCode]: ErrorCode.INTERNAL }, 'dashboard request failed');
        if (!res.headersSent) sendJson(res, 500, { error: { code: ErrorCode.INTERNAL, message: 'internal error' } });
        else res.destroy();
      });
    };
    this.#server = options.tls
      ? createHttpsServer(
          { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile), minVersion: 'TLSv1.2' },
          handler,
        )
      : nodeHttp.createServer(handler);
  }

  async start(): Promise<HostPort> {
    const at = this.#options.listen;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err) =>
        reject(
          new SigilError(ErrorCode.UNAVAILABLE, `dashboard cannot listen on ${formatHostPort(at)}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      this.#server.listen(at.port, at.host, () => resolve());
    });
    const port = (this.#server.address() as { port: number }).port;
    this.#address = { host: at.host, port };
    return this.#address;
  }

  async stop(): Promise<void> {
    this.#events.close();
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** A one-time login URL for this admin (the Admin API's CreateDashboardLogin). */
  mintLogin(admin: SessionAdmin): { readonly url: string; readonly expiresAt: number } {
    const { token, expiresAt } = this.#deps.loginTokens.mint(admin);
    return { url: `${this.#baseUrl()}/login?token=${token}`, expiresAt };
  }

  #baseUrl(): string {
    if (this.#options.publicUrl) return this.#options.publicUrl;
    if (!this.#address) throw new SigilError(ErrorCode.UNAVAILABLE, 'the dashboard is not started');
    return `${this.#https ? 'https' : 'http'}://${formatHostPort(this.#address)}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    for (const [k, v] of Object.entries(securityHeaders(this.#https))) res.setHeader(k, v);
    res.setHeader('x-request-id', requestId);
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname === '/login' && method === 'GET') return this.#login(req, res, url, requestId);

    const gate = await this.#gate.check(req);
    if (!gate.ok) {
      await this.#auditRefusal(req, gate.actor, 'dashboard.session', url.pathname, gate.reason, requestId);
      return this.#refuse(req, res, 401, 'Not signed in', GATE_MESSAGES[gate.reason], requestId, gate.reason);
    }
    const { session } = gate;
    if (gate.refreshedCookie) res.setHeader('set-cookie', gate.refreshedCookie);
    if (STATE_CHANGING.has(method)) {
      const presented = req.headers['x-sigil-csrf'];
      if (!this.#deps.codec.checkCsrf(session.id, typeof presented === 'string' ? presented : undefined)) {
        await this.#auditRefusal(req, session.spiffeId, 'dashboard.csrf', url.pathname, 'csrf', requestId);
        return this.#refuse(
          req,
          res,
          403,
          'Request refused',
          'This change did not carry the CSRF token of your session. Reload the page and try again.',
          requestId,
          'csrf',
        );
      }
    }
    if (url.pathname === '/api/logout' && method === 'POST') {
      // Server-side as well: a copy of the cookie (another tab, a stolen one) is refused from now on.
      await this.#deps.data.signOut(session.id, session.seenAt + SESSION_IDLE_MS);
      res.setHeader('set-cookie', this.#gate.clear());
      return sendJson(res, 200, { ok: true });
    }
    if (url.pathname === '/api/events' && method === 'GET') return this.#events.serve(req, res, session.serial);
    if (url.pathname.startsWith('/api/')) return this.#api(req, res, url, method, session, requestId);
    if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { error: { message: 'method not allowed' } });
    return this.#assets.serve(url.pathname, res);
  }

  async #api(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    session: Session,
    requestId: string,
  ): Promise<void> {
    const handler = apiHandler(method, url.pathname);
    if (!handler) return sendJson(res, 404, { error: { code: ErrorCode.NOT_FOUND, message: 'no such API' } });
    try {
      let body: Record<string, unknown> = {};
      if (method === 'POST') {
        const text = await readBody(req, BODY_MAX_BYTES);
        try {
          body = text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
        } catch {
          throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'the request body is not JSON');
        }
      }
      const result = await handler(
        { method, path: url.pathname, query: url.searchParams, body, session, requestId },
        {
          data: this.#deps.data,
          audit: this.#deps.audit,
          trustDomain: this.#options.trustDomain,
          csrfToken: (id) => this.#deps.codec.csrfToken(id),
        },
      );
      sendJson(res, 200, result);
    } catch (err) {
      if (isSigilError(err) && err.code !== ErrorCode.INTERNAL) {
        sendJson(res, HTTP_STATUS[err.code] ?? 400, { error: { code: err.code, message: err.message, requestId } });
        return;
      }
      if (err instanceof RangeError) {
        sendJson(res, 413, { error: { code: ErrorCode.INVALID_ARGUMENT, message: err.message, requestId } });
        return;
      }
      this.#deps.logger.error({ err, request_id: requestId }, 'dashboard API call failed');
      sendJson(res, 500, {
        error: { code: ErrorCode.INTERNAL, message: 'internal error; the control plane log has the cause', requestId },
      });
    }
  }

  async #login(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> {
    let admin: SessionAdmin;
    try {
      admin = this.#deps.loginTokens.exchange(url.searchParams.get('token') ?? '');
      if (!(await this.#deps.data.adminActive(admin.serial)))
        throw new SigilError(
          ErrorCode.PEER_NOT_ADMIN,
          'the admin credential this link was made with has been revoked: sign in with a current one',
        );
    } catch (err) {
      if (!isSigilError(err)) throw err;
      await this.#auditRefusal(req, 'anonymous', 'dashboard.login', '/login', err.code, requestId);
      return this.#refuse(req, res, 401, 'Sign-in refused', err.message, requestId, err.code, true);
    }
    const now = this.#deps.clock.now();
    const session = {
      ...admin,
      id: randomUUID(),
      trustDomain: this.#options.trustDomain,
      issuedAt: now,
      seenAt: now,
    };
    await this.#deps.audit.record({
      actor: admin.spiffeId,
      action: 'dashboard.login',
      target: 'dashboard',
      result: 'ok',
      requestId,
    });
    res.writeHead(303, { 'set-cookie': this.#gate.issue(session), location: '/' });
    res.end();
  }

  async #auditRefusal(
    req: IncomingMessage,
    actor: string,
    action: string,
    target: string,
    detail: string,
    requestId: string,
  ): Promise<void> {
    try {
      this.#refusalAudit.take(req.socket.remoteAddress ?? 'unknown', 'audit');
    } catch {
      return;
    }
    await this.#deps.audit.record({ actor, action, target, result: 'refused', requestId, detail });
  }

  #refuse(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    title: string,
    message: string,
    requestId: string,
    code: string,
    html = wantsHtml(req),
  ): void {
    if (html) {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(refusalPage(title, message, requestId));
    } else sendJson(res, status, { error: { code, message, requestId } });
  }
}
