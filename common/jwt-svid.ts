import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { ErrorCode, SigilError } from './errors.ts';
import type { JwtBundleKey } from './jwt-bundle.ts';
import { parseSpiffeId } from './spiffe-id.ts';

/**
 * JWT-SVID rules (SPIFFE JWT-SVID standard), shared by the control plane that signs and the sidecar that validates.
 * Signing and verification are jose's; this module decides which keys and claims are acceptable.
 */

/** Algorithms a JWT-SVID may use (the standard's list). `none` and HMAC are never accepted. */
export const JWT_SVID_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

export type { JwtBundleKey } from './jwt-bundle.ts';
export { jwtKeysOfBundle } from './jwt-bundle.ts';

export interface ValidatedJwtSvid {
  readonly spiffeId: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly expiresAt: number;
}

export interface JwtSvidExpectation {
  /** The audience the token must name. */
  readonly audience: string;
  /** The trust domain whose keys sign, and whose IDs may be the subject. */
  readonly trustDomain: string;
  /** The `use: jwt-svid` keys of that trust domain's bundle. */
  readonly keys: readonly JwtBundleKey[];
  /** ms since the epoch. */
  readonly now: number;
}

function refuse(reason: string, message: string, cause?: unknown): never {
  throw new SigilError(ErrorCode.JWT_INVALID, message, {
    details: { reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Validates a JWT-SVID: signature by a `jwt-svid` key of the bundle (by `kid`), an accepted algorithm, `exp` in the
 * future, `aud` naming the audience, `sub` a SPIFFE ID of the trust domain. Throws JWT_INVALID with
 * `details.reason` (malformed, alg, kid, signature, expired, audience, subject).
 */
export async function validateJwtSvid(token: string, expected: JwtSvidExpectation): Promise<ValidatedJwtSvid> {
  if (expected.audience === '') refuse('audience', 'an audience is required to validate a JWT-SVID');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (cause) {
    refuse('malformed', 'the token is not a JWS in compact serialization', cause);
  }
  if (typeof header.alg !== 'string' || !JWT_SVID_ALGORITHMS.includes(header.alg))
    refuse('alg', `the token's algorithm ${JSON.stringify(header.alg)} is not allowed for JWT-SVIDs`);
  if (typeof header.kid !== 'string' || !expected.keys.some((k) => k.kid === header.kid))
    refuse(
      'kid',
      `the token's key id ${JSON.stringify(header.kid)} is not in the JWT bundle of ${expected.trustDomain}`,
    );
  let payload: Record<string, unknown>;
  try {
    // jose matches `use` against "sig"; the SPIFFE bundle says "jwt-svid" instead, so it is dropped here.
    const jwks = createLocalJWKSet({ keys: expected.keys.map(({ use: _use, ...key }) => key) });
    ({ payload } = await jwtVerify(token, jwks, {
      algorithms: JWT_SVID_ALGORITHMS,
      audience: expected.audience,
      currentDate: new Date(expected.now),
      requiredClaims: ['sub', 'aud', 'exp'],
    }));
  } catch (cause) {
    if (cause instanceof errors.JWTExpired) refuse('expired', 'the JWT-SVID has expired', cause);
    if (cause instanceof errors.JWTClaimValidationFailed && cause.claim === 'aud')
      refuse('audience', `the JWT-SVID is not for audience ${JSON.stringify(expected.audience)}`, cause);
    if (cause instanceof errors.JWSSignatureVerificationFailed)
      refuse('signature', 'the JWT-SVID signature does not verify with its key', cause);
    refuse(
      'malformed',
      `the JWT-SVID is not acceptable: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause,
    );
  }
  let spiffeId: string;
  try {
    const id = parseSpiffeId(String(payload['sub']));
    if (id.trustDomain !== expected.trustDomain || id.path === '') throw new Error('foreign');
    spiffeId = id.uri;
  } catch {
    refuse(
      'subject',
      `the JWT-SVID subject ${JSON.stringify(payload['sub'])} is not a workload of ${expected.trustDomain}`,
    );
  }
  return { spiffeId, claims: payload, expiresAt: Number(payload['exp']) * 1000 };
}
