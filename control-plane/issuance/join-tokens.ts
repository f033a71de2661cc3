import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseWorkloadId } from '../../common/spiffe-id.ts';
import type { Store } from '../store/store.ts';

const TOKEN_PREFIX = 'sigil-jt-';
const MAX_TTL_MS = 30 * 86_400_000;
const MAX_USES = 10_000;

export interface CreatedJoinToken {
  /** Shown to the operator once; only its hash is stored. */
  readonly token: string;
  readonly spiffeId: string;
  readonly expiresAt: number;
  readonly uses: number;
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
    await this.#deps.store.insertJoinToken({
      tokenHash: hashJoinToken(token),
      spiffeId: id.uri,
      createdAt: now,
      expiresAt: now + ttlMs,
      usesRemaining: uses,
    });
    return { token, spiffeId: id.uri, expiresAt: now + ttlMs, uses };
  }
}
