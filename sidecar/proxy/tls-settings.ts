import { constants as cryptoConstants } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** The TLS versions the data path may speak. Anything older is refused at configuration time. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsSettingsInput {
  /** Lowest version accepted; TLS 1.3 unless legacy peers need 1.2. */
  readonly minVersion?: string;
}

/** Protocol and cipher options to spread into `tls.createSecureContext()` / `server.setSecureContext()`. */
export interface TlsSettings {
  readonly minVersion: TlsVersion;
  readonly maxVersion: 'TLSv1.3';
  /** Always explicit: Node's default list still offers CBC suites for TLS 1.2. */
  readonly ciphers: string;
}

// TLS 1.3 suites are all AEAD with ephemeral key exchange; listed so the set is stated, not inherited.
export const TLS13_SUITES: readonly string[] = Object.freeze([
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
]);

// TLS 1.2: forward-secret (ECDHE) key exchange with AEAD only. No CBC (LUCKY13), no static RSA, no DHE.
export const TLS12_SUITES: readonly string[] = Object.freeze([
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
]);

const ACCEPTED_VERSIONS: readonly string[] = ['TLSv1.2', 'TLSv1.3'];

/**
 * Resolves the TLS settings of one listener or client context. Pure. Throws CONFIG_INVALID for any version
 * other than TLSv1.2/TLSv1.3, so a typo can never silently fall back to Node's defaults.
 */
export function resolveTlsSettings(input: TlsSettingsInput = {}): TlsSettings {
  const minVersion = input.minVersion ?? 'TLSv1.3';
  if (!ACCEPTED_VERSIONS.includes(minVersion)) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `TLS minimum version ${JSON.stringify(minVersion)} is not allowed; use "TLSv1.3" (default) or "TLSv1.2"`,
      { details: { minVersion } },
    );
  }
  const suites = minVersion === 'TLSv1.2' ? [...TLS13_SUITES, ...TLS12_SUITES] : [...TLS13_SUITES];
  return Object.freeze({ minVersion: minVersion as TlsVersion, maxVersion: 'TLSv1.3', ciphers: suites.join(':') });
}

/**
 * Key-share groups of the outbound (client) side, in order. OpenSSL 3.5 sends a key share for the first only: the
 * hybrid post-quantum X25519MLKEM768, which Node 24+ servers (every current Sigil sidecar) choose anyway. Node's
 * default list makes the client send a second share, for X25519, that such a server never uses: one X25519 key
 * generation per connection for nothing (the mesh profile, bench/mesh-profile.ts, saw the outbound sidecar's X25519
 * time drop from 89 to 71 µs per connection, about 1 % of the pair's CPU). A server without the hybrid group answers
 * with a HelloRetryRequest and gets X25519 or P-256: one round trip more, the same security. (X25519 alone would
 * also drop ML-KEM, about 150 µs per connection for the pair, but gives up the post-quantum half: not a trade to
 * make silently.)
 */
export const CLIENT_KEY_SHARE_GROUPS = 'X25519MLKEM768:X25519:P-256';

/** What the shared client context of the outbound side is built with: the protocol settings and the groups. */
export interface ClientTlsSettings extends TlsSettings {
  readonly ecdhCurve: string;
}

/** `resolveTlsSettings()` plus the outbound side's key-share groups. Pure; throws as `resolveTlsSettings` does. */
export function resolveClientTlsSettings(input: TlsSettingsInput = {}): ClientTlsSettings {
  return Object.freeze({ ...resolveTlsSettings(input), ecdhCurve: CLIENT_KEY_SHARE_GROUPS });
}

export interface ServerSessionSettings {
  /** Seconds a session ticket is valid for (the lifetime hint sent to clients and enforced on resumption). */
  readonly sessionTimeout: number;
  /** SSL_OP_NO_TICKET when resumption is off: OpenSSL then issues only stateful tickets, which Node never stores. */
  readonly secureOptions?: number;
}

/**
 * Server options for TLS session resumption. Pure. A ticket never lives longer than the ticket keys that seal it
 * (`ticketLifetimeMs` is the rotation interval), and the listener refuses a resumption whose peer certificate has
 * expired, so no session outlives the SVID it was issued to.
 */
export function resolveServerSessionSettings(input: {
  readonly resumption: boolean;
  readonly ticketLifetimeMs: number;
}): ServerSessionSettings {
  if (!Number.isFinite(input.ticketLifetimeMs) || input.ticketLifetimeMs < 1000) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `the session ticket key rotation must be at least 1 s, got ${input.ticketLifetimeMs} ms`,
    );
  }
  const sessionTimeout = Math.floor(input.ticketLifetimeMs / 1000);
  return Object.freeze(
    input.resumption ? { sessionTimeout } : { sessionTimeout, secureOptions: cryptoConstants.SSL_OP_NO_TICKET },
  );
}
