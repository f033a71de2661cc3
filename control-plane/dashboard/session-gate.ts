import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../common/clock.ts';
import type { DashboardData } from './dashboard-data.ts';
import type { Session, SessionCodec } from './session-codec.ts';

export type GateRefusal =
  | 'no-session'
  | 'malformed'
  | 'forged'
  | 'foreign'
  | 'expired'
  | 'signed-out'
  | 'admin-revoked';

export type GateResult =
  | { readonly ok: true; readonly session: Session; readonly refreshedCookie?: string }
  | { readonly ok: false; readonly reason: GateRefusal; readonly actor: string };

/** What each refusal tells the person in front of the browser. */
export const GATE_MESSAGES: Record<GateRefusal, string> = {
  'no-session': 'You are not signed in to this dashboard.',
  malformed: 'Your session cookie is damaged.',
  forged: 'Your session cookie was not issued by this control plane (another control plane, or altered).',
  foreign: 'Your session cookie belongs to another trust domain.',
  expired: 'Your session ended after 8 hours without activity.',
  'signed-out': 'You signed out of this session. Run sigil dashboard login to sign in again.',
  'admin-revoked': 'The admin credential this session was opened with has been revoked.',
};

/** A session's last-seen time is written back at most this often (one Set-Cookie a minute, not one a request). */
const REFRESH_AFTER_MS = 60_000;

export function cookieName(https: boolean): string {
  // __Host-: the browser only accepts it Secure, from this host, for path /; plain HTTP cannot use the prefix.
  return https ? '__Host-sigil_session' : 'sigil_session';
}

export function sessionCookie(value: string, https: boolean, maxAgeS: number): string {
  return `${cookieName(https)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${https ? '; Secure' : ''}`;
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** Every request but the login exchange passes here: a valid cookie of this control plane, an admin still active. */
export class SessionGate {
  readonly #codec: SessionCodec;
  readonly #data: Pick<DashboardData, 'adminActive' | 'sessionSignedOut'>;
  readonly #clock: Clock;
  readonly #https: boolean;

  constructor(deps: {
    readonly codec: SessionCodec;
    readonly data: Pick<DashboardData, 'adminActive' | 'sessionSignedOut'>;
    readonly clock: Clock;
    readonly https: boolean;
  }) {
    this.#codec = deps.codec;
    this.#data = deps.data;
    this.#clock = deps.clock;
    this.#https = deps.https;
  }

  async check(req: IncomingMessage): Promise<GateResult> {
    const cookie = readCookie(req, cookieName(this.#https));
    if (cookie === undefined) return { ok: false, reason: 'no-session', actor: 'anonymous' };
    const now = this.#clock.now();
    const verdict = this.#codec.decode(cookie, now);
    if (!verdict.ok) return { ok: false, reason: verdict.reason, actor: 'anonymous' };
    const { session } = verdict;
    if (await this.#data.sessionSignedOut(session.id))
      return { ok: false, reason: 'signed-out', actor: session.spiffeId };
    if (!(await this.#data.adminActive(session.serial)))
      return { ok: false, reason: 'admin-revoked', actor: session.spiffeId };
    if (now - session.seenAt < REFRESH_AFTER_MS) return { ok: true, session };
    const refreshed = { ...session, seenAt: now };
    return { ok: true, session: refreshed, refreshedCookie: this.issue(refreshed) };
  }

  /** The Set-Cookie header value for a session. */
  issue(session: Session): string {
    return sessionCookie(this.#codec.encode(session), this.#https, 8 * 3600);
  }

  clear(): string {
    return sessionCookie('', this.#https, 0);
  }
}
