import { makeCsr } from '../../common/csr-builder.ts';
import { generateKeyPair, privateKeyPemOf } from '../../common/key-pair.ts';
import { derToPem } from '../../common/trust-bundle.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import { GrpcIdentityApi, type TlsMaterial } from '../../sidecar/index.ts';

/**
 * An SVID for the subscriber workers' seeding FetchTrust: the control plane gives revocations and policies to
 * members of the mesh only (issue 21 item 12), so the workers present one as a sidecar does.
 */
export async function attestTrustReader(cp: {
  readonly grpcAddress: string;
  readonly bundlePem: string;
  readonly trustDomain: string;
  createJoinToken(spiffeId: string): Promise<string>;
}): Promise<TlsMaterial> {
  const spiffeId = `spiffe://${cp.trustDomain}/ns/bench/sa/trust-reader`;
  const api = new GrpcIdentityApi({
    address: cp.grpcAddress,
    bundlePem: () => cp.bundlePem,
    trustDomain: cp.trustDomain,
  });
  const keys = await generateKeyPair('ec-p256');
  const issued = await api.attest(await cp.createJoinToken(spiffeId), await makeCsr({ spiffeId, keys }));
  const leaf = parseX509Facts(issued.chain[0]!);
  return {
    certChainPem: issued.chain.map(derToPem).join(''),
    keyPem: privateKeyPemOf(keys.privateKey),
    bundlePem: cp.bundlePem,
    spiffeId,
    serial: leaf.serial,
    notAfter: leaf.notAfter,
  };
}
