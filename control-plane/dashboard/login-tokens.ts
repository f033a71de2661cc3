import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { SessionAdmin } from './session-codec.ts';

/** A login URL is for the next minutes, not for later. */
export const LOGIN_TOKEN_TTL_MS = 120_000;

interface Pending {
  readonly admin: SessionAdmin;
  readonly expiresAt: number;
  usedAt?: number;
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * One-time login tokens, minted through the Admin API for the admin that called it and exchanged once for a
 * session. Kept in this process's memory only, as hashes: a restart voids pending ones (run the login again), and
 * a used token is remembered until it would have expired, so a replay is told apart from a typo.
 */
export class LoginTokens {
  readonly #pending = new Map<string, Pending>();
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #random: (n: number) => Buffer;

  constructor(deps: { readonly clock: Clock; readonly ttlMs?: number; readonly random?: (n: number) => Buffer }) {
    this.#clock = deps.clock;
    this.#ttlMs = deps.ttlMs ?? LOGIN_TOKEN_TTL_MS;
    this.#random = deps.random ?? randomBytes;
  }

  mint(admin: SessionAdmin): { readonly token: string; readonly expiresAt: number } {
    this.#sweep();
    const token = this.#random(32).toString('base64url');
    const expiresAt = this.#clock.now() + this.#ttlMs;
    this.#pending.set(hash(token), { admin, expiresAt });
    return { token, expiresAt };
  }

  /** Consumes a token; refusals carry TOKEN_INVALID, TOKEN_EXPIRED or TOKEN_USED. */
  exchange(token: string): SessionAdmin {
    const now = this.#clock.now();
    const pending = this.#pending.get(hash(token));
    if (!pending)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'this login link is not known to this control plane: run `sigil dashboard login` again and open the new link',
      );
    if (pending.usedAt !== undefined)
      throw new SigilError(
        ErrorCode.TOKEN_USED,
        'this login link was used already: each link signs in once; run `sigil dashboard login` for a new one',
      );
    if (now >= pending.expiresAt)
      throw new SigilError(
        ErrorCode.TOKEN_EXPIRED,
        'this login link has expired (links last 2 minutes): run `sigil dashboard login` for a new one',
      );
    pending.usedAt = now;
    return pending.admin;
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [k, p] of this.#pending) if (now >= p.expiresAt) this.#pending.delete(k);
  }
}
