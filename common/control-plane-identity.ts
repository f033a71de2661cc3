import { parseSpiffeId } from './spiffe-id.ts';
import { parseX509Facts } from './x509-facts.ts';

/**
 * The server check of every client of the control plane: the chain was verified against the bundle by TLS; the
 * leaf must then be the control plane's SVID (spiffe://<td>/sigil/control-plane). Host names are not checked, so
 * the control plane can be reached by any address. Returns an Error for node:tls' checkServerIdentity.
 */
export function checkControlPlaneCertificate(
  raw: Uint8Array | undefined,
  trustDomain: string | undefined,
): Error | undefined {
  if (!raw) return new Error('the control plane presented no certificate');
  try {
    const facts = parseX509Facts(raw);
    if (facts.uriSans.length !== 1)
      return new Error(
        `the server certificate has ${facts.uriSans.length} URI SANs; expected the control plane's SVID`,
      );
    const id = parseSpiffeId(facts.uriSans[0] as string);
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
