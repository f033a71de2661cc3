import { KeyObject, X509Certificate, sign, verify, type webcrypto } from 'node:crypto';
import { sigil } from '../../proto/index.ts';
import { ErrorCode, SigilError } from '../errors.ts';
import { classifyPublicKey } from '../key-type.ts';
import { validatePath } from '../path-validator.ts';
import { controlPlaneId, parseSpiffeId } from '../spiffe-id.ts';
import { validateSvidLeaf } from '../svid-validator.ts';
import { parseX509Facts, type X509Facts } from '../x509-facts.ts';
import { decodeEventPayload, encodeEventPayload, eventKindOf, type SigilEvent } from './sigil-event.ts';
import type { SignerChainCache, ValidatedSigner } from './signer-chain-cache.ts';
import { isEventKind, type EventKind } from './subjects.ts';

/**
 * Signing and verification of the SignedEvent envelope (DESIGN.md section 5). Pure: no sockets, no clocks.
 * The signature covers the exact encoded EventBody bytes; ECDSA signatures are DER, RSA is PKCS#1 v1.5, and the
 * hash fits the key (P-256 and RSA: SHA-256, P-384: SHA-384).
 */

/** NATS' default max_payload: nothing larger is ever published, so anything larger is not ours. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** The control plane sends its SVID and the intermediate: a longer chain is forged or broken, refused unparsed. */
const MAX_CHAIN_CERTS = 4;

export interface EventSigner {
  /** DER: the control plane's SVID first, then intermediates (not the root). */
  readonly chainDer: readonly Uint8Array[];
  readonly privateKey: webcrypto.CryptoKey;
}

export interface SignEventInput {
  readonly event: SigilEvent;
  readonly trustDomain: string;
  readonly sequence: number;
  /** ms since epoch. */
  readonly issuedAt: number;
  readonly signer: EventSigner;
}

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

export interface VerifiedEvent {
  readonly ok: true;
  readonly kind: EventKind;
  readonly sequence: number;
  /** ms since epoch, as claimed by the (verified) signer. */
  readonly issuedAt: number;
  readonly event: SigilEvent;
  /** Serial of the signer's SVID, for logs. */
  readonly signerSerial: string;
}

export interface VerifyEventOptions {
  /** Our trust domain. */
  readonly trustDomain: string;
  /** The current bundle (DER roots). */
  readonly roots: readonly Uint8Array[];
  /** ms since epoch. */
  readonly now: number;
  /** The last applied sequence of a kind (0 if none): only newer events are accepted. */
  readonly lastSequence: (kind: EventKind) => number;
  /** Validated signer chains, reused across events; omit to validate every time. */
  readonly cache?: SignerChainCache;
  /**
   * Asked before a signer chain not in the cache is validated (signature checks, the costly part): false rejects
   * the event as 'over-budget' without that work. A flood of forged chains then costs a cheap parse each.
   */
  readonly allowUncachedValidation?: () => boolean;
}

/** Encodes, signs and wraps one event. Throws INVALID_ARGUMENT for a signer it cannot use. */
export async function signEvent(input: SignEventInput): Promise<Uint8Array> {
  const { event, signer } = input;
  if (signer.chainDer.length === 0)
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'the event signer has no certificate chain: pass the control plane SVID chain',
    );
  if (!Number.isSafeInteger(input.sequence) || input.sequence < 1) {
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, `event sequence ${input.sequence} is not a positive integer`);
  }
  const body = sigil.v1.EventBody.encode({
    kind: eventKindOf(event),
    trustDomain: input.trustDomain,
    sequence: input.sequence,
    issuedAtUnixMs: input.issuedAt,
    payload: encodeEventPayload(event),
  }).finish();
  const key = KeyObject.from(signer.privateKey);
  const signature = sign(signingHash(signer.privateKey), body, { key, dsaEncoding: 'der' });
  return sigil.v1.SignedEvent.encode({
    body,
    signature,
    signerChain: signer.chainDer.map((c) => new Uint8Array(c)),
  }).finish();
}

function signingHash(key: webcrypto.CryptoKey): 'sha256' | 'sha384' {
  const alg = key.algorithm as webcrypto.EcKeyAlgorithm | webcrypto.RsaHashedKeyAlgorithm;
  if (alg.name === 'ECDSA' && 'namedCurve' in alg) {
    if (alg.namedCurve === 'P-256') return 'sha256';
    if (alg.namedCurve === 'P-384') return 'sha384';
  }
  if (alg.name === 'RSASSA-PKCS1-v1_5' && 'hash' in alg && alg.hash.name === 'SHA-256') return 'sha256';
  throw new SigilError(
    ErrorCode.KEY_UNSUPPORTED,
    `events are signed with ECDSA P-256/P-384 or RSA PKCS#1 v1.5 SHA-256 keys, not ${alg.name}`,
  );
}

/**
 * Verifies an envelope and decodes its event; never throws. Order: structure → signer chain to `roots` at `now`
 * (cached) → signer is our control plane → signature over the body. Only then is anything in the body believed:
 * trust domain → kind → sequence → payload. So every reason but 'malformed' and the signer reasons is a
 * verified fact, and a forged message costs at most one bounded path validation.
 */
export function verifyEvent(bytes: Uint8Array, opts: VerifyEventOptions): VerifiedEvent | Rejection {
  const envelope = verifyEnvelope(bytes, opts);
  return envelope.ok ? acceptEnvelope(envelope, opts.lastSequence) : envelope;
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

export type EnvelopeOptions = Omit<VerifyEventOptions, 'lastSequence'>;

/**
 * The stateless, costly half of verifyEvent (everything up to and including the kind): it needs no sequence state,
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

/** The ordered half of verifyEvent: only a sequence newer than the last applied of its kind is decoded. */
export function acceptEnvelope(
  envelope: VerifiedEnvelope,
  lastSequence: (kind: EventKind) => number,
): VerifiedEvent | Rejection {
  const { kind, sequence } = envelope;
  const last = lastSequence(kind);
  if (!(sequence > last)) return reject('replayed', `sequence ${sequence} of ${kind} is not newer than ${last}`);
  const payload = decodeEventPayload(kind, envelope.payload);
  if (!payload.ok) return reject(payload.reason, `payload of kind ${kind}`);
  return Object.freeze({
    ok: true,
    kind,
    sequence,
    issuedAt: envelope.issuedAt,
    event: payload.event,
    signerSerial: envelope.signerSerial,
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

function reject(reason: RejectionReason, detail: string): Rejection {
  return Object.freeze({ ok: false, reason, detail });
}

type Envelope =
  | { readonly ok: true; readonly signed: sigil.v1.SignedEvent; readonly body: sigil.v1.EventBody }
  | Rejection;

/** Protobuf decoding of random bytes can "succeed": every field the envelope needs must also be present. */
function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length === 0 || bytes.length > MAX_EVENT_BYTES) return reject('malformed', `size ${bytes.length}`);
  let signed: sigil.v1.SignedEvent;
  let body: sigil.v1.EventBody;
  try {
    signed = sigil.v1.SignedEvent.decode(bytes);
    if (signed.body.length === 0 || signed.signature.length === 0)
      return reject('malformed', 'empty body or signature');
    if (
      signed.signerChain.length === 0 ||
      signed.signerChain.length > MAX_CHAIN_CERTS ||
      signed.signerChain.some((c) => c.length === 0)
    ) {
      return reject('malformed', `signer chain of ${signed.signerChain.length} certificates`);
    }
    body = sigil.v1.EventBody.decode(signed.body);
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
