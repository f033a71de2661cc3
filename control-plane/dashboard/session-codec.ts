import { createHmac, timingSafeEqual } from 'node:crypto';

/** Whom a session speaks for: the admin credential `sigil dashboard login` was called with. */
export interface SessionAdmin {
  readonly spiffeId: string;
  /** The admin certificate's serial: a revoked credential ends its sessions at once. */
  readonly serial: string;
}

export interface Session extends SessionAdmin {
  readonly id: string;
  readonly trustDomain: string;
  readonly issuedAt: number;
  /** The last request seen, for the idle expiry. */
  readonly seenAt: number;
}

export type SessionVerdict =
  | { readonly ok: true; readonly session: Session }
  | { readonly ok: false; readonly reason: 'malformed' | 'forged' | 'foreign' | 'expired' };

/** 8 h without a request ends a session. */
export const SESSION_IDLE_MS = 8 * 3_600_000;
const VERSION = 's1';

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * Session cookies and CSRF tokens as MACs under one key per control plane (a file in its data directory), so a
 * cookie survives a restart of the control plane that made it and means nothing to any other. Nothing is kept
 * server-side: what a cookie claims is only believed once its MAC verifies.
 */
export class SessionCodec {
  readonly #key: Buffer;
  readonly #trustDomain: string;

  constructor(options: { readonly key: Buffer; readonly trustDomain: string }) {
    if (options.key.length < 32) throw new Error('the dashboard session key must have at least 32 bytes');
    this.#key = options.key;
    this.#trustDomain = options.trustDomain;
  }

  encode(session: Session): string {
    const payload = b64(
      JSON.stringify({
        id: session.id,
        sub: session.spiffeId,
        ser: session.serial,
        td: session.trustDomain,
        iat: session.issuedAt,
        seen: session.seenAt,
      }),
    );
    return `${VERSION}.${payload}.${this.#mac(`session\0${payload}`)}`;
  }

  decode(cookie: string, now: number): SessionVerdict {
    const parts = cookie.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return { ok: false, reason: 'malformed' };
    const [, payload, mac] = parts as [string, string, string];
    if (!this.#equal(mac, this.#mac(`session\0${payload}`))) return { ok: false, reason: 'forged' };
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const { id, sub, ser, td, iat, seen } = claims;
    if (
      typeof id !== 'string' ||
      typeof sub !== 'string' ||
      typeof ser !== 'string' ||
      typeof td !== 'string' ||
      typeof iat !== 'number' ||
      typeof seen !== 'number'
    )
      return { ok: false, reason: 'malformed' };
    // A key shared by mistake between trust domains still does not carry sessions across them.
    if (td !== this.#trustDomain) return { ok: false, reason: 'foreign' };
    if (now - seen > SESSION_IDLE_MS) return { ok: false, reason: 'expired' };
    return { ok: true, session: { id, spiffeId: sub, serial: ser, trustDomain: td, issuedAt: iat, seenAt: seen } };
  }

  /** The CSRF token of a session: pages read it from /api/session and send it in a header with every change. */
  csrfToken(sessionId: string): string {
    return this.#mac(`csrf\0${sessionId}`);
  }

  checkCsrf(sessionId: string, presented: string | undefined): boolean {
    return presented !== undefined && this.#equal(presented, this.csrfToken(sessionId));
  }

  #mac(text: string): string {
    return b64(createHmac('sha256', this.#key).update(text).digest());
  }

  #equal(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }
}
