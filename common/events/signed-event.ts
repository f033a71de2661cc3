import { KeyObject, sign, type webcrypto } from 'node:crypto';
import { sigil } from '../../proto/index.ts';
import { ErrorCode, SigilError } from '../errors.ts';
import { decodeEventPayload, encodeEventPayload, eventKindOf, type SigilEvent } from './sigil-event.ts';
import type { EventKind } from './subjects.ts';
import {
  reject,
  verifyEnvelope,
  type EnvelopeOptions,
  type Rejection,
  type VerifiedEnvelope,
} from './verify-envelope.ts';

export {
  MAX_EVENT_BYTES,
  verifyEnvelope,
  type EnvelopeOptions,
  type Rejection,
  type RejectionReason,
  type VerifiedEnvelope,
} from './verify-envelope.ts';

/**
 * Signing and verification of the SignedEvent envelope (DESIGN.md section 5). Pure: no sockets, no clocks.
 * The signature covers the exact encoded EventBody bytes; ECDSA signatures are DER, RSA is PKCS#1 v1.5, and the
 * hash fits the key (P-256 and RSA: SHA-256, P-384: SHA-384). The stateless half of verification (everything up to
 * the kind) is verify-envelope.ts, which the sidecar's verifier thread loads without this module's generated classes.
 */

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

export interface VerifyEventOptions extends EnvelopeOptions {
  /** The last applied sequence of a kind (0 if none): only newer events are accepted. */
  readonly lastSequence: (kind: EventKind) => number;
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
