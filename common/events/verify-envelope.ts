import { X509Certificate, verify } from 'node:crypto';
import { SigilError } from '../errors.ts';
import { classifyPublicKey } from '../key-type.ts';
import { validatePath } from '../path-validator.ts';
import { controlPlaneId, parseSpiffeId } from '../spiffe-id.ts';
import { validateSvidLeaf } from '../svid-validator.ts';
import { parseX509Facts, type X509Facts } from '../x509-facts.ts';
import {
  decodeEventBody,
  decodeSignedEvent,
  type EventBodyMessage,
  type SignedEventMessage,
} from './event-envelope.ts';
import type { SignerChainCache, ValidatedSigner } from './signer-chain-cache.ts';
import { isEventKind, type EventKind } from './subjects.ts';

/**
 * Verification of the SignedEvent envelope (DESIGN.md section 5) up to the event's kind: structure, signer chain,
 * signer identity, signature, trust domain. Pure: no sockets, no clocks. It needs no sequence state and none of the
 * generated protobuf classes (event-envelope.ts decodes the two envelope messages), so the sidecar runs it on its
 * verifier thread with a small module graph; signed-event.ts adds signing and the ordered half (sequence, payload).
 */

/** NATS' default max_payload: nothing larger is ever published, so anything larger is not ours. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** The control plane sends its SVID and the intermediate: a longer chain is forged or broken, refused unparsed. */
const MAX_CHAIN_CERTS = 4;

export type RejectionReason =
  | 'malformed'
  | 'untrusted-signer'
  | 'not-control-plane'
  | 'bad-signature'
  | 'wrong-trust-domain'
  | 'replayed'
  | 'unknown-kind'
  | 'over-budget';

export interface Rejection {
  readonly ok: false;
  readonly reason: RejectionReason;
  /** For debug logs only; never contains key material. */
  readonly detail?: string;
}

export interface EnvelopeOptions {
  /** Our trust domain. */
  readonly trustDomain: string;
  /** The current bundle (DER roots). */
  readonly roots: readonly Uint8Array[];
  /** ms since epoch. */
  readonly now: number;
  /** Validated signer chains, reused across events; omit to validate every time. */
  readonly cache?: SignerChainCache;
  /**
   * Asked before a signer chain not in the cache is validated (signature checks, the costly part): false rejects
   * the event as 'over-budget' without that work. A flood of forged chains then costs a cheap parse each.
   */
  readonly allowUncachedValidation?: () => boolean;
}

/** What verifyEnvelope vouches for: signed by our control plane, for our trust domain, of a known kind. */
export interface VerifiedEnvelope {
  readonly ok: true;
  readonly kind: EventKind;
  readonly sequence: number;
  /** ms since epoch, as claimed by the (verified) signer. */
  readonly issuedAt: number;
  /** The encoded payload, decoded by acceptEnvelope once the sequence is known to be new. */
  readonly payload: Uint8Array;
  readonly signerSerial: string;
}

/**
 * The stateless, costly half of verifyEvent (signed-event.ts; everything up to and including the kind): it needs no sequence state,
 * so it can run on another thread while the subscriber keeps the order and the sequence checks (acceptEnvelope).
 */
export function verifyEnvelope(bytes: Uint8Array, opts: EnvelopeOptions): VerifiedEnvelope | Rejection {
  const envelope = decodeEnvelope(bytes);
  if (!envelope.ok) return envelope;
  const { signed, body } = envelope;

  const signer = validatedSigner(signed.signerChain, opts);
  if ('ok' in signer) return signer;
  if (!signatureVerifies(signer, signed.body, signed.signature)) {
    return reject('bad-signature', `the signature does not verify with the key of ${signer.serial}`);
  }

  if (body.trustDomain !== opts.trustDomain)
    return reject('wrong-trust-domain', `the event is for trust domain "${body.trustDomain}"`);
  if (!isEventKind(body.kind)) return reject('unknown-kind', `kind "${body.kind}"`);
  return Object.freeze({
    ok: true,
    kind: body.kind,
    sequence: Number(body.sequence),
    issuedAt: Number(body.issuedAtUnixMs),
    payload: body.payload,
    signerSerial: signer.serial,
  });
}

function signatureVerifies(signer: ValidatedSigner, body: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(signer.hash, body, { key: signer.publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    // OpenSSL may throw instead of returning false for a signature that is not even well-formed.
    return false;
  }
}

/** A frozen rejection; exported for the ordered half (acceptEnvelope). */
export function reject(reason: RejectionReason, detail: string): Rejection {
  return Object.freeze({ ok: false, reason, detail });
}

type Envelope = { readonly ok: true; readonly signed: SignedEventMessage; readonly body: EventBodyMessage } | Rejection;

/** Protobuf decoding of random bytes can "succeed": every field the envelope needs must also be present. */
function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length === 0 || bytes.length > MAX_EVENT_BYTES) return reject('malformed', `size ${bytes.length}`);
  let signed: SignedEventMessage;
  let body: EventBodyMessage;
  try {
    signed = decodeSignedEvent(bytes);
    if (signed.body.length === 0 || signed.signature.length === 0)
      return reject('malformed', 'empty body or signature');
    if (
      signed.signerChain.length === 0 ||
      signed.signerChain.length > MAX_CHAIN_CERTS ||
      signed.signerChain.some((c) => c.length === 0)
    ) {
      return reject('malformed', `signer chain of ${signed.signerChain.length} certificates`);
    }
    body = decodeEventBody(signed.body);
  } catch {
    return reject('malformed', 'not a SignedEvent');
  }
  if (body.kind === '' || body.trustDomain === '' || body.payload.length === 0)
    return reject('malformed', 'body lacks kind, trust domain or payload');
  return { ok: true, signed, body };
}

function validatedSigner(chain: readonly Uint8Array[], opts: EnvelopeOptions): ValidatedSigner | Rejection {
  const cacheKey = opts.cache?.key(opts.roots, chain);
  const cached = cacheKey === undefined ? undefined : opts.cache?.get(cacheKey, opts.now);
  if (cached) return cached;
  // Cheap checks first (parsing, no signature): only a chain whose leaf names our control plane and whose keys are
  // all of the kinds Sigil issues is worth validating.
  const precheck = cheapSignerCheck(chain, opts);
  if (precheck) return precheck;
  if (opts.allowUncachedValidation && !opts.allowUncachedValidation()) {
    return reject('over-budget', 'too many new signer chains on this subject; dropped before validation');
  }
  let path: readonly X509Facts[];
  try {
    path = validatePath({
      leaf: chain[0] as Uint8Array,
      intermediates: chain.slice(1),
      roots: opts.roots,
      now: opts.now,
    }).chain;
  } catch (err) {
    return reject('untrusted-signer', `the signer chain does not validate: ${reasonOf(err)}`);
  }
  const leaf = path[0] as X509Facts;
  const identity = checkControlPlane(leaf, opts);
  if (identity) return identity;
  const signer: ValidatedSigner = Object.freeze({
    publicKey: new X509Certificate(leaf.der).publicKey,
    hash: classifyPublicKey(leaf.publicKey) === 'ec-p384' ? 'sha384' : 'sha256',
    spiffeId: leaf.uriSans[0] ?? '',
    serial: leaf.serial,
    validFrom: Math.max(...path.map((f) => f.notBefore)),
    validUntil: Math.min(...path.map((f) => f.notAfter)),
  });
  if (cacheKey !== undefined) opts.cache?.set(cacheKey, signer);
  return signer;
}

function cheapSignerCheck(chain: readonly Uint8Array[], opts: EnvelopeOptions): Rejection | undefined {
  let facts: X509Facts[];
  try {
    facts = chain.map((der) => parseX509Facts(der));
  } catch {
    return reject('malformed', 'a signer certificate does not parse');
  }
  const leaf = facts[0] as X509Facts;
  const expected = controlPlaneId(opts.trustDomain);
  if (leaf.uriSans.length !== 1 || leaf.uriSans[0] !== expected) return checkControlPlane(leaf, opts);
  for (const f of facts) {
    try {
      classifyPublicKey(f.publicKey);
    } catch (err) {
      return reject('untrusted-signer', `a signer certificate has a key Sigil never issues: ${reasonOf(err)}`);
    }
  }
  return undefined;
}

/** The leaf must be an SVID whose only URI SAN is exactly our control plane's ID. */
function checkControlPlane(leaf: X509Facts, opts: EnvelopeOptions): Rejection | undefined {
  const expected = controlPlaneId(opts.trustDomain);
  if (leaf.uriSans.length !== 1 || leaf.uriSans[0] !== expected) {
    // The control plane of another trust domain that our bundle happens to trust (a shared root).
    if (leaf.uriSans.length === 1 && isOtherControlPlane(leaf.uriSans[0] ?? '', opts.trustDomain)) {
      return reject('wrong-trust-domain', `signed by ${leaf.uriSans[0]}`);
    }
    return reject(
      'not-control-plane',
      `signed by ${leaf.uriSans.join(', ') || 'a certificate without URI SAN'}, not ${expected}`,
    );
  }
  try {
    validateSvidLeaf(leaf, { trustDomain: opts.trustDomain, purpose: 'any', now: opts.now });
    classifyPublicKey(leaf.publicKey);
  } catch (err) {
    return reject('untrusted-signer', `the signer is not a conformant SVID: ${reasonOf(err)}`);
  }
  return undefined;
}

function isOtherControlPlane(uri: string, trustDomain: string): boolean {
  try {
    const id = parseSpiffeId(uri);
    return id.trustDomain !== trustDomain && id.uri === controlPlaneId(id.trustDomain);
  } catch {
    return false;
  }
}

function reasonOf(err: unknown): string {
  return err instanceof SigilError ? String(err.details['reason'] ?? err.code) : 'undecodable';
}
