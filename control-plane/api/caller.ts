import type { ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId, isAdminId } from '../../common/spiffe-id.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import type { CallerCertificate } from '../issuance/identity-issuer.ts';
import type { Store } from '../store/store.ts';

/**
 * The caller's client certificate, if the TLS layer verified it against the bundle. grpc-js only exposes a peer
 * certificate when the socket is authorized, so anything returned here chains to a trusted root.
 */
export function verifiedCaller(call: ServerUnaryCall<unknown, unknown>, trustDomain: string): CallerCertificate {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw) {
    throw new SigilError(
      ErrorCode.PEER_UNAUTHENTICATED,
      'this call needs mTLS with a certificate issued by this trust domain; none was presented or it did not verify',
    );
  }
  const facts = parseX509Facts(new Uint8Array(raw));
  if (facts.uriSans.length !== 1) {
    throw new SigilError(
      ErrorCode.PEER_UNAUTHENTICATED,
      `the client certificate has ${facts.uriSans.length} URI SANs; an SVID has exactly one`,
    );
  }
  const spiffeId = parseSpiffeId(facts.uriSans[0] as string);
  if (spiffeId.trustDomain !== trustDomain) {
    throw new SigilError(
      ErrorCode.PEER_UNAUTHENTICATED,
      `the client certificate is for trust domain ${spiffeId.trustDomain}, not ${trustDomain}`,
    );
  }
  return { spiffeId, serial: facts.serial, publicKeySha256: facts.spkiSha256, notAfter: facts.notAfter };
}

export function verifiedAdmin(call: ServerUnaryCall<unknown, unknown>, trustDomain: string): CallerCertificate {
  const caller = verifiedCaller(call, trustDomain);
  if (!isAdminId(caller.spiffeId)) {
    throw new SigilError(
      ErrorCode.PEER_NOT_ADMIN,
      `${caller.spiffeId.uri} is not an admin identity: use the admin credential made by \`sigil ca init\` (spiffe://${trustDomain}/sigil/admin/<name>)`,
    );
  }
  return caller;
}

/** An admin caller whose certificate is in the inventory and not revoked; every Admin-API handler starts here. */
export async function requireActiveAdmin(
  call: ServerUnaryCall<unknown, unknown>,
  trustDomain: string,
  store: Pick<Store, 'getCertificate'>,
): Promise<CallerCertificate> {
  const admin = verifiedAdmin(call, trustDomain);
  const record = await store.getCertificate(admin.serial);
  if (record?.status !== 'active') {
    throw new SigilError(
      ErrorCode.PEER_NOT_ADMIN,
      `admin certificate ${admin.serial} is unknown or revoked: use a current admin credential`,
    );
  }
  return admin;
}
