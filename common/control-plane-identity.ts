import { X509Certificate } from 'node:crypto';
import { parseSpiffeId } from './spiffe-id.ts';

/**
 * One subjectAltName entry as Node prints it, when the value holds only characters that need no quoting: a URI of
 * SPIFFE-ID characters, a DNS name or an IP address (the control plane's serving SVID also names its host). Node
 * separates entries with ", " and JSON-quotes any value with a comma, quote or space (CVE-2021-44532); when every
 * entry matches this, splitting on ", " is exact, and anything else is refused rather than guessed at.
 */
const PLAIN_ENTRY = /^(?:URI:[A-Za-z0-9._~:/%-]+|DNS:[A-Za-z0-9.*-]+|IP Address:[0-9A-Fa-f:.]+)$/;

/** The URI SANs of a certificate, or undefined when its SANs are not all plain entries. */
function uriSans(san: string): string[] | undefined {
  if (san === '') return [];
  const entries = san.split(', ');
  if (!entries.every((entry) => PLAIN_ENTRY.test(entry))) return undefined;
  return entries.filter((entry) => entry.startsWith('URI:')).map((entry) => entry.slice(4));
}

/**
 * The server check of every client of the control plane: the chain was verified against the bundle by TLS; the
 * leaf must then be the control plane's SVID (spiffe://<td>/sigil/control-plane). Host names are not checked, so
 * the control plane can be reached by any address. Returns an Error for node:tls' checkServerIdentity.
 * Node's own certificate parser suffices here, so a CLI admin command does not load the ASN.1 library (a third of
 * its start-up).
 */
export function checkControlPlaneCertificate(
  raw: Uint8Array | undefined,
  trustDomain: string | undefined,
): Error | undefined {
  if (!raw) return new Error('the control plane presented no certificate');
  try {
    const san = new X509Certificate(raw).subjectAltName ?? '';
    const uris = uriSans(san);
    if (uris?.length !== 1)
      return new Error(
        `the server certificate has ${uris === undefined ? `a subjectAltName Sigil does not issue (${san})` : `${uris.length} URI SANs`}; expected the control plane's SVID`,
      );
    const id = parseSpiffeId(uris[0] as string);
    if (id.path !== '/sigil/control-plane') return new Error(`the server is ${id.uri}, not a Sigil control plane`);
    if (trustDomain !== undefined && id.trustDomain !== trustDomain)
      return new Error(`the control plane serves trust domain ${id.trustDomain}, expected ${trustDomain}`);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/**
 * grpc-js channel options for clients of the control plane. SNI carries a fixed name because the server is
 * authenticated by SPIFFE ID, not host name, and Node refuses an IP address as a TLS server name.
 */
export const CONTROL_PLANE_CHANNEL_OPTIONS = Object.freeze({
  'grpc.ssl_target_name_override': 'control-plane.sigil.invalid',
  'grpc.default_authority': 'control-plane.sigil.invalid',
});
