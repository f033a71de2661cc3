import { validateSvidLeaf } from '../common/svid-validator.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import type { PeerIdentity, VerifyPeer } from './proxy/peer-info.ts';

/**
 * The X.509-SVID profile check of a peer's leaf, after Node verified the chain against the bundle. The proxy
 * caches the result per certificate, so this runs once per distinct peer certificate, not per handshake.
 */
export function svidPeerVerifier(trustDomain: string, purpose: 'client' | 'server'): VerifyPeer {
  return (rawDer: Buffer): PeerIdentity => {
    const facts = parseX509Facts(new Uint8Array(rawDer.buffer, rawDer.byteOffset, rawDer.byteLength));
    return { spiffeId: validateSvidLeaf(facts, { trustDomain, purpose }).uri };
  };
}
