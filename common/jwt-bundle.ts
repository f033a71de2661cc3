import { ErrorCode, SigilError } from './errors.ts';

// The JWT keys of a SPIFFE bundle, apart from jwt-svid.ts so that reading a bundle does not load the JOSE library.

/** A JSON Web Key as a SPIFFE bundle carries it. */
export interface BundleJsonWebKey {
  readonly kty?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly alg?: string;
  readonly [member: string]: unknown;
}

/** A key of the SPIFFE bundle marked for JWT-SVIDs. */
export type JwtBundleKey = BundleJsonWebKey & { readonly use: 'jwt-svid'; readonly kid: string };

/** The JWT-SVID keys of a SPIFFE bundle document (JWKS JSON); other keys and malformed entries are left out. */
export function jwtKeysOfBundle(json: string | Uint8Array): JwtBundleKey[] {
  const text = typeof json === 'string' ? json : Buffer.from(json).toString('utf8');
  if (text === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new SigilError(ErrorCode.BUNDLE_INVALID, 'the SPIFFE bundle is not valid JSON', { cause });
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys))
    throw new SigilError(ErrorCode.BUNDLE_INVALID, 'the SPIFFE bundle JSON needs a "keys" array');
  return keys.filter(
    (k: unknown): k is JwtBundleKey =>
      typeof k === 'object' &&
      k !== null &&
      (k as JwtBundleKey).use === 'jwt-svid' &&
      typeof (k as JwtBundleKey).kid === 'string' &&
      (k as JwtBundleKey).kid !== '',
  );
}
