import { ErrorCode, isSigilError } from '../../common/errors.ts';
import type { RefusalReason } from './proxy-observer.ts';

const NO_CERTIFICATE = new Set([
  'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
]);

const PROTOCOL = new Set([
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_NO_SHARED_CIPHER',
]);

// OpenSSL verify results (client side: bare names) and alerts about certificates (server side: ERR_SSL_*).
const UNTRUSTED = /CERT|UNKNOWN_CA|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|SELF_SIGNED|BAD_CERTIFICATE/;

/** Maps a TLS handshake error from Node/OpenSSL (or a SigilError from our own checks) to a refusal reason. */
export function classifyTlsError(err: unknown): RefusalReason {
  if (isSigilError(err)) return err.code === ErrorCode.PEER_ID_MISMATCH ? 'unexpected_peer' : 'invalid_svid';
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  if (NO_CERTIFICATE.has(code)) return 'no_peer_certificate';
  if (PROTOCOL.has(code)) return 'unsupported_protocol';
  if (UNTRUSTED.test(code)) return 'untrusted_certificate';
  return 'handshake_failed';
}
