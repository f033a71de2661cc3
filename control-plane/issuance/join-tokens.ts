import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseWorkloadId } from '../../common/spiffe-id.ts';
import type { JoinTokenRecord, Store } from '../store/store.ts';

const TOKEN_PREFIX = 'sigil-jt-';
const MAX_TTL_MS = 30 * 86_400_000;
const MAX_USES = 10_000;

export interface CreatedJoinToken {
  /** Shown to the operator once; only its hash is stored. */
  readonly token: string;
  /** Names the token in `sigil token list|revoke` without revealing it. */
  readonly id: string;
  readonly spiffeId: string;
  readonly expiresAt: number;
  readonly uses: number;
  readonly prefix: boolean;
}

/** How many hex digits of the hash name a token: 48 bits, unique among any realistic number of live tokens. */
const ID_LENGTH = 12;

/** The public name of a token record. */
export function joinTokenId(record: Pick<JoinTokenRecord, 'tokenHash'>): string {
  return record.tokenHash.slice(0, ID_LENGTH);
}

/** Whether `requested` may be issued with a token bound to `bound` (an exact ID, or a prefix of whole segments). */
export function tokenAllows(record: Pick<JoinTokenRecord, 'spiffeId' | 'matchPrefix'>, requested: string): boolean {
  return record.matchPrefix ? requested.startsWith(`${record.spiffeId}/`) : requested === record.spiffeId;
}

export interface JoinTokensDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly defaultTtlMs: number;
  readonly randomBytes?: (n: number) => Uint8Array;
}

/** SHA-256 of the token text: what the store keys tokens by. */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Join tokens: one-time (by default), bound to one SPIFFE ID, short-lived, stored only as hashes. */
export class JoinTokens {
  readonly #deps: JoinTokensDeps;

  constructor(deps: JoinTokensDeps) {
    this.#deps = deps;
  }

  async create(request: {
    spiffeId: string;
    ttlMs?: number | undefined;
    uses?: number | undefined;
    /** The ID is a path prefix under which each sidecar names itself (autoscaled replicas). */
    prefix?: boolean | undefined;
  }): Promise<CreatedJoinToken> {
    const id = parseWorkloadId(request.spiffeId, this.#deps.trustDomain);
    if (id.path.startsWith('/sigil/')) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `${id.uri} is reserved for Sigil's own components: pick a workload path such as /ns/<namespace>/sa/<name>`,
      );
    }
    const ttlMs = request.ttlMs || this.#deps.defaultTtlMs;
    if (ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `join token TTL must be between 1s and 30d; join tokens are meant to be used within minutes`,
      );
    }
    const uses = request.uses || 1;
    if (!Number.isInteger(uses) || uses < 1 || uses > MAX_USES) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `join token uses must be a whole number between 1 and ${MAX_USES}`,
      );
    }
    const random = this.#deps.randomBytes ?? nodeRandomBytes;
    const token = TOKEN_PREFIX + Buffer.from(random(32)).toString('base64url');
    const now = this.#deps.clock.now();
    const tokenHash = hashJoinToken(token);
    await this.#deps.store.insertJoinToken({
      tokenHash,
      spiffeId: id.uri,
      createdAt: now,
      expiresAt: now + ttlMs,
      usesRemaining: uses,
      ...(request.prefix ? { matchPrefix: true as const } : {}),
    });
    return {
      token,
      id: joinTokenId({ tokenHash }),
      spiffeId: id.uri,
      expiresAt: now + ttlMs,
      uses,
      prefix: request.prefix === true,
    };
  }

  list(): Promise<JoinTokenRecord[]> {
    return this.#deps.store.listJoinTokens();
  }

  /** Revokes the token named by its id (or the token text itself); an unknown or ambiguous id changes nothing. */
  async revoke(idOrToken: string): Promise<JoinTokenRecord> {
    const wanted = idOrToken.startsWith(TOKEN_PREFIX) ? hashJoinToken(idOrToken) : idOrToken.toLowerCase();
    if (!/^[0-9a-f]{6,64}$/.test(wanted))
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `${JSON.stringify(idOrToken)} is not a join token id: use the ID column of sigil token list (hex)`,
      );
    const matches = (await this.#deps.store.listJoinTokens()).filter((r) => r.tokenHash.startsWith(wanted));
    const [match] = matches;
    if (match === undefined || matches.length > 1)
      throw new SigilError(
        matches.length > 1 ? ErrorCode.INVALID_ARGUMENT : ErrorCode.NOT_FOUND,
        matches.length > 1
          ? `${wanted} names ${matches.length} join tokens: give more digits of the id`
          : `no join token has the id ${wanted}: see sigil token list`,
      );
    const revoked = await this.#deps.store.revokeJoinToken(match.tokenHash, this.#deps.clock.now());
    if (revoked === undefined) throw new SigilError(ErrorCode.NOT_FOUND, `join token ${wanted} disappeared`);
    return revoked;
  }
}
