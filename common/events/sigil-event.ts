import { sigil } from '../../proto/index.ts';
import { parseSpiffeId } from '../spiffe-id.ts';
import type { EventKind } from './subjects.ts';
import type { RotationTarget } from '../rotation-target.ts';

/**
 * The typed events of the channel, one union member per kind. Each maps to one payload message of
 * proto/sigil/v1/events.proto.
 */
export type SigilEvent =
  | {
      readonly type: 'bundle.updated';
      /** DER root certificates: the whole current bundle, never a delta. */
      readonly roots: readonly Uint8Array[];
      readonly bundleSequence: number;
      readonly refreshHintSeconds: number;
      /** The SPIFFE bundle document with the JWT-SVID keys; empty when the control plane has none. */
      readonly spiffeBundle?: Uint8Array;
    }
  | {
      /**
       * One change of the revocation state: only what changed, stamped with the CRL number it produced. A change
       * with no entries (the periodic CRL re-signing) still moves the number, so receivers see no gap.
       */
      readonly type: 'revocation.updated';
      readonly crlNumber: number;
      /** Lowercase hex serials revoked by this change. */
      readonly revokedSerials: readonly string[];
      readonly revokedSpiffeIds: readonly string[];
      readonly unrevokedSpiffeIds: readonly string[];
      /** Too large for one message: the lists are empty, fetch the full state (like a gap). */
      readonly partial?: boolean;
      /** The id of the store the number comes from (RevocationState.store_epoch); absent from older senders. */
      readonly storeEpoch?: string;
    }
  | {
      /** The whole policy set in force (full state, validated again by each receiver before use). */
      readonly type: 'policy.updated';
      readonly policies: sigil.v1.IPolicySet;
      /** Too large for one message: `policies` holds only version and default action; fetch the set over gRPC. */
      readonly partial?: boolean;
    }
  | {
      /** Renew with a new key at a uniformly random moment inside the window (once per order id). */
      readonly type: 'rotate.ordered';
      readonly orderId: string;
      readonly target: RotationTarget;
      readonly windowMs: number;
      readonly reason: string;
      /** Unix ms: the window runs from here. */
      readonly createdAt: number;
    }
  | {
      /** One entry of the audit log as recorded; for operators' tooling (sidecars do not subscribe). */
      readonly type: 'audit.recorded';
      readonly entry: AuditFacts;
    }
  | {
      /** A certificate alert raised or resolved by the control plane's alert engine; for operators' tooling. */
      readonly type: 'alert.changed';
      readonly event: 'raised' | 'resolved';
      readonly alert: AlertFacts;
    };

/** An audit entry as it travels. */
export interface AuditFacts {
  readonly id: string;
  /** Unix ms. */
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly result: string;
  readonly requestId: string;
  readonly detail: string;
}

/** A certificate alert as it travels (the record the alert engine keeps, without its deliveries). */
export interface AlertFacts {
  readonly alertId: string;
  readonly certificateId: string;
  readonly threshold: string;
  readonly severity: string;
  readonly source: string;
  readonly serial: string;
  readonly subject: string;
  readonly owner: string;
  /** Unix ms. */
  readonly notAfter: number;
  readonly message: string;
  readonly raisedAt: number;
  /** null (and resolution null) while open. */
  readonly resolvedAt: number | null;
  readonly resolution: string | null;
}

export type SigilEventType = SigilEvent['type'];

const KIND_OF: Readonly<Record<SigilEventType, EventKind>> = {
  'bundle.updated': 'bundle',
  'revocation.updated': 'revocation',
  'policy.updated': 'policy',
  'rotate.ordered': 'rotate',
  'alert.changed': 'alert',
  'audit.recorded': 'audit',
};

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
        ...(event.spiffeBundle ? { spiffeBundle: event.spiffeBundle } : {}),
      }).finish();
    case 'policy.updated':
      return sigil.v1.PolicyUpdate.encode({
        policies: event.policies,
        ...(event.partial ? { partial: true } : {}),
      }).finish();
    case 'revocation.updated':
      return sigil.v1.RevocationUpdate.encode({
        crlNumber: event.crlNumber,
        revokedSerials: [...event.revokedSerials],
        revokedSpiffeIds: [...event.revokedSpiffeIds],
        unrevokedSpiffeIds: [...event.unrevokedSpiffeIds],
        ...(event.partial ? { partial: true } : {}),
        ...(event.storeEpoch ? { storeEpoch: event.storeEpoch } : {}),
      }).finish();
    case 'rotate.ordered':
      return sigil.v1.RotationOrder.encode({
        orderId: event.orderId,
        spiffeId: event.target.kind === 'spiffe-id' ? event.target.spiffeId : '',
        prefix: event.target.kind === 'prefix' ? event.target.prefix : '',
        all: event.target.kind === 'all',
        windowMs: event.windowMs,
        reason: event.reason,
        createdAtUnixMs: event.createdAt,
      }).finish();
    case 'audit.recorded': {
      const { at, requestId, ...rest } = event.entry;
      return sigil.v1.AuditUpdate.encode({ ...rest, atUnixMs: at, requestId }).finish();
    }
    case 'alert.changed': {
      const a = event.alert;
      return sigil.v1.AlertUpdate.encode({
        event: event.event,
        alert: {
          alertId: a.alertId,
          certificateId: a.certificateId,
          threshold: a.threshold,
          severity: a.severity,
          source: a.source,
          serial: a.serial,
          subject: a.subject,
          owner: a.owner,
          notAfterUnixMs: a.notAfter,
          message: a.message,
          raisedAtUnixMs: a.raisedAt,
          resolvedAtUnixMs: a.resolvedAt ?? 0,
          resolution: a.resolution ?? '',
        },
      }).finish();
    }
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
      return decodeRevocation(payload);
    case 'policy':
      return decodePolicy(payload);
    case 'rotate':
      return decodeRotation(payload);
    case 'alert':
      return decodeAlert(payload);
    case 'audit':
      return decodeAudit(payload);
  }
}

function decodeAudit(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.AuditUpdate;
  try {
    msg = sigil.v1.AuditUpdate.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!msg.id || !msg.actor || !msg.action) return { ok: false, reason: 'malformed' };
  const entry: AuditFacts = {
    id: msg.id,
    at: Number(msg.atUnixMs),
    actor: msg.actor,
    action: msg.action,
    target: msg.target,
    result: msg.result,
    requestId: msg.requestId,
    detail: msg.detail,
  };
  return { ok: true, event: Object.freeze({ type: 'audit.recorded', entry: Object.freeze(entry) }) };
}

function decodeAlert(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.AlertUpdate;
  try {
    msg = sigil.v1.AlertUpdate.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const a = msg.alert;
  if ((msg.event !== 'raised' && msg.event !== 'resolved') || !a || !a.alertId)
    return { ok: false, reason: 'malformed' };
  const resolvedAt = Number(a.resolvedAtUnixMs);
  return {
    ok: true,
    event: Object.freeze({
      type: 'alert.changed',
      event: msg.event,
      alert: Object.freeze({
        alertId: a.alertId,
        certificateId: a.certificateId ?? '',
        threshold: a.threshold ?? '',
        severity: a.severity ?? '',
        source: a.source ?? '',
        serial: a.serial ?? '',
        subject: a.subject ?? '',
        owner: a.owner ?? '',
        notAfter: Number(a.notAfterUnixMs),
        message: a.message ?? '',
        raisedAt: Number(a.raisedAtUnixMs),
        resolvedAt: resolvedAt > 0 ? resolvedAt : null,
        resolution: a.resolution ? a.resolution : null,
      }),
    }),
  };
}

/** Longer than any sensible spread; a bigger number can only be a mistake or forged. */
const MAX_ROTATION_WINDOW_MS = 7 * 24 * 3_600_000;
const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;

function decodeRotation(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.RotationOrder;
  try {
    msg = sigil.v1.RotationOrder.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const event = rotationOrderFromWire(msg);
  return event ? { ok: true, event } : { ok: false, reason: 'malformed' };
}

export type RotationOrderEvent = Extract<SigilEvent, { type: 'rotate.ordered' }>;

/** Checks a RotationOrder message (NATS payload or FetchTrust entry); undefined when it is malformed. */
export function rotationOrderFromWire(msg: sigil.v1.IRotationOrder): RotationOrderEvent | undefined {
  const orderId = msg.orderId ?? '';
  const windowMs = Number(msg.windowMs ?? 0);
  const createdAt = Number(msg.createdAtUnixMs ?? 0);
  if (!ORDER_ID.test(orderId) || !Number.isSafeInteger(windowMs) || windowMs < 0 || windowMs > MAX_ROTATION_WINDOW_MS)
    return undefined;
  if (!Number.isSafeInteger(createdAt) || createdAt <= 0) return undefined;
  const spiffeId = msg.spiffeId ?? '';
  const prefix = msg.prefix ?? '';
  const named = (spiffeId !== '' ? 1 : 0) + (prefix !== '' ? 1 : 0) + (msg.all ? 1 : 0);
  if (named !== 1) return undefined;
  let target: RotationTarget;
  if (msg.all) target = { kind: 'all' };
  else if (spiffeId !== '') {
    if (!isSpiffeId(spiffeId)) return undefined;
    target = { kind: 'spiffe-id', spiffeId };
  } else {
    if (!prefix.endsWith('/') || !isSpiffeId(prefix.slice(0, -1))) return undefined;
    target = { kind: 'prefix', prefix };
  }
  return Object.freeze({
    type: 'rotate.ordered',
    orderId,
    target: Object.freeze(target),
    windowMs,
    reason: msg.reason ?? '',
    createdAt,
  });
}

function decodePolicy(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.PolicyUpdate;
  try {
    msg = sigil.v1.PolicyUpdate.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!msg.policies) return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    event: Object.freeze({ type: 'policy.updated', policies: msg.policies, ...(msg.partial ? { partial: true } : {}) }),
  };
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
      ...(msg.spiffeBundle.length > 0 ? { spiffeBundle: new Uint8Array(msg.spiffeBundle) } : {}),
    }),
  };
}

const HEX_SERIAL = /^[0-9a-f]{1,64}$/;

function isSpiffeId(text: string): boolean {
  try {
    parseSpiffeId(text);
    return true;
  } catch {
    return false;
  }
}

function decodeRevocation(payload: Uint8Array): PayloadDecodeResult {
  let msg: sigil.v1.RevocationUpdate;
  try {
    msg = sigil.v1.RevocationUpdate.decode(payload);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const crlNumber = Number(msg.crlNumber);
  // Every change moves the CRL number from 1 up; 0 or a number past 2^53 can only be forged or corrupt.
  if (!Number.isSafeInteger(crlNumber) || crlNumber < 1) return { ok: false, reason: 'malformed' };
  if (!msg.revokedSerials.every((s) => HEX_SERIAL.test(s))) return { ok: false, reason: 'malformed' };
  if (![...msg.revokedSpiffeIds, ...msg.unrevokedSpiffeIds].every(isSpiffeId))
    return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    event: Object.freeze({
      type: 'revocation.updated',
      crlNumber,
      revokedSerials: Object.freeze([...msg.revokedSerials]),
      revokedSpiffeIds: Object.freeze([...msg.revokedSpiffeIds]),
      unrevokedSpiffeIds: Object.freeze([...msg.unrevokedSpiffeIds]),
      ...(msg.partial ? { partial: true } : {}),
      ...(msg.storeEpoch ? { storeEpoch: msg.storeEpoch } : {}),
    }),
  };
}

/**
 * Room for the payload in one NATS message: MAX_EVENT_BYTES (NATS' 1 MB default) less the envelope, whose signer
 * chain may hold up to 8 certificates.
 */
export const MAX_EVENT_PAYLOAD_BYTES = 768 * 1024;

/**
 * The event as it can travel: unchanged when its payload fits, otherwise its 'partial' form (the receivers fetch
 * the full state over gRPC). Bundle and rotation events are small by construction and returned as they are.
 */
export function fitForChannel(event: SigilEvent): SigilEvent {
  if (event.type !== 'revocation.updated' && event.type !== 'policy.updated') return event;
  if (encodeEventPayload(event).length <= MAX_EVENT_PAYLOAD_BYTES) return event;
  if (event.type === 'revocation.updated') {
    return { ...event, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [], partial: true };
  }
  const { version, defaultAction } = event.policies;
  return {
    type: 'policy.updated',
    policies: { version, ...(defaultAction ? { defaultAction } : {}), policies: [] },
    partial: true,
  };
}
