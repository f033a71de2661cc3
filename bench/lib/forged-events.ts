import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';
import { sigil } from '../../proto/index.ts';
import { controlPlaneId } from '../../common/spiffe-id.ts';
import { eventSubject, SIDECAR_EVENT_KINDS } from '../../common/events/subjects.ts';

// What an attacker who can publish on NATS sends to tie up sidecars (issue 21 item 6): event envelopes that look
// like the control plane's but are not. Used by bench/event-flood.ts and test/event-flood.test.ts.

export type ForgeryKind =
  /** The flood: an 8-certificate P-521 chain to a root of the attacker's (~17 ms to validate in full). */
  | 'p521-long-chain'
  /** 4 certificates (the most a sidecar parses), P-384, the leaf naming our control plane, an attacker's root. */
  | 'forged-control-plane-chain'
  /** The real control plane's chain (public: in every event, and its TLS certificate) over a made-up signature. */
  | 'bad-signature';

export interface ForgedEvent {
  readonly forgery: ForgeryKind;
  readonly subject: string;
  readonly data: Uint8Array;
}

const subtle = webcrypto.subtle;
type Curve = 'P-384' | 'P-521';
const HASH: Record<Curve, string> = { 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

interface Link {
  readonly der: Uint8Array;
  readonly key: webcrypto.CryptoKeyPair;
  readonly name: string;
  readonly curve: Curve;
}

/** A chain of `length` certificates of the attacker's, leaf first, the leaf with `leafUri` as its only URI SAN. */
async function forgedChain(curve: Curve, length: number, leafUri: string): Promise<Link[]> {
  const algorithm = { name: 'ECDSA', namedCurve: curve };
  const signingAlgorithm = { name: 'ECDSA', hash: HASH[curve] };
  const now = Date.now();
  const links: Link[] = [];
  for (let i = 0; i < length; i++) {
    const key = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const isLeaf = i === length - 1;
    const name = `CN=forged ${i},O=attacker`;
    const issuer = links[i - 1];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex').replace(/^./, '1'),
      subject: name,
      issuer: issuer?.name ?? name,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 24 * 3_600_000),
      publicKey: key.publicKey,
      signingKey: (issuer?.key ?? key).privateKey,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(!isLeaf, undefined, true),
        new x509.KeyUsagesExtension(
          isLeaf ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyCertSign,
          true,
        ),
        ...(isLeaf ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: leafUri }], false)] : []),
      ],
    });
    links.push({ der: new Uint8Array(cert.rawData), key, name, curve });
  }
  return links.reverse();
}

function body(trustDomain: string, kind: string, sequence: number): Uint8Array {
  return sigil.v1.EventBody.encode({
    kind,
    trustDomain,
    sequence,
    issuedAtUnixMs: Date.now(),
    payload: randomBytes(64),
  }).finish();
}

function envelope(bodyBytes: Uint8Array, signature: Uint8Array, chain: readonly Uint8Array[]): Uint8Array {
  return sigil.v1.SignedEvent.encode({ body: bodyBytes, signature, signerChain: [...chain] }).finish();
}

/** One envelope per sidecar subject, signed by the leaf of `links` (valid signature, untrusted chain). */
function signedBy(trustDomain: string, links: readonly Link[], forgery: ForgeryKind): ForgedEvent[] {
  const leaf = links[0] as Link;
  const key = KeyObject.from(leaf.key.privateKey);
  const hash = HASH[leaf.curve].replace('SHA-', 'sha');
  return SIDECAR_EVENT_KINDS.map((kind, i) => {
    const b = body(trustDomain, kind, 1_000_000_000 + i);
    const signature = sign(hash, b, { key, dsaEncoding: 'der' });
    const chain = links.map((l) => l.der);
    return { forgery, subject: eventSubject(trustDomain, kind), data: envelope(b, signature, chain) };
  });
}

/**
 * The forged envelopes of `kinds`, one per subject a sidecar listens on. 'bad-signature' needs the control plane's
 * chain (DER, leaf first), as copied from an authentic event (signerChainOf) or its TLS handshake.
 */
export async function makeForgedEvents(options: {
  readonly trustDomain: string;
  readonly kinds: readonly ForgeryKind[];
  readonly controlPlaneChain?: readonly Uint8Array[];
}): Promise<ForgedEvent[]> {
  const cp = controlPlaneId(options.trustDomain);
  const out: ForgedEvent[] = [];
  for (const forgery of options.kinds) {
    if (forgery === 'p521-long-chain') {
      out.push(...signedBy(options.trustDomain, await forgedChain('P-521', 8, cp), forgery));
    } else if (forgery === 'forged-control-plane-chain') {
      out.push(...signedBy(options.trustDomain, await forgedChain('P-384', 4, cp), forgery));
    } else {
      const chain = options.controlPlaneChain;
      if (!chain) throw new Error("'bad-signature' forgeries need the control plane's chain");
      for (const [i, kind] of SIDECAR_EVENT_KINDS.entries()) {
        out.push({
          forgery,
          subject: eventSubject(options.trustDomain, kind),
          data: envelope(body(options.trustDomain, kind, 1_000_000_000 + i), randomBytes(71), chain),
        });
      }
    }
  }
  return out;
}

/** The signer chain of an event envelope (what an eavesdropper on NATS copies). */
export function signerChainOf(envelopeBytes: Uint8Array): Uint8Array[] {
  return sigil.v1.SignedEvent.decode(envelopeBytes).signerChain;
}
