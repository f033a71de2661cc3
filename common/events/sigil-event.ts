import { sigil } from '../../proto/index.ts';
import type { EventKind } from './subjects.ts';

/**
 * The typed events of the channel, one union member per kind. Each maps to one payload message of
 * proto/sigil/v1/events.proto; kinds without a member yet (revocation, policy, rotate) are refused as unknown.
 */
export type SigilEvent = {
  readonly type: 'bundle.updated';
  /** DER root certificates: the whole current bundle, never a delta. */
  readonly roots: readonly Uint8Array[];
  readonly bundleSequence: number;
  readonly refreshHintSeconds: number;
};

export type SigilEventType = SigilEvent['type'];

const KIND_OF: Readonly<Record<SigilEventType, EventKind>> = { 'bundle.updated': 'bundle' };

export function eventKindOf(event: SigilEvent): EventKind {
  return KIND_OF[event.type];
}

export function encodeEventPayload(event: SigilEvent): Uint8Array {
  switch (event.type) {
    case 'bundle.updated':
      return sigil.v1.BundleUpdate.encode({
        roots: [...event.roots],
        bundleSequence: event.bundleSequence,
        refreshHintSeconds: event.refreshHintSeconds,
      }).finish();
  }
}

export type PayloadDecodeResult =
  | { readonly ok: true; readonly event: SigilEvent }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-kind' };

/** Decodes and checks the payload of a kind; never throws. */
export function decodeEventPayload(kind: EventKind, payload: Uint8Array): PayloadDecodeResult {
  switch (kind) {
    case 'bundle':
      return decodeBundle(payload);
    case 'revocation':
    case 'policy':
    case 'rotate':
      return { ok: false, reason: 'unknown-kind' };
  }
}

function decodeBundle(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.BundleUpdate;
  try {
    msg = sigil.v1.BundleUpdate.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  // An empty bundle would make the subscriber distrust everything: never a valid update.
  if (msg.roots.length === 0 || msg.roots.some((r) => r.length === 0)) return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    event: Object.freeze({
      type: 'bundle.updated',
      roots: Object.freeze(msg.roots.map((r) => new Uint8Array(r))),
      bundleSequence: Number(msg.bundleSequence),
      refreshHintSeconds: Number(msg.refreshHintSeconds),
    }),
  };
}
