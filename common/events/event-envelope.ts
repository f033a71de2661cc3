import protobuf from 'protobufjs/light.js';

/**
 * The two envelope messages of proto/sigil/v1/events.proto (SignedEvent and EventBody), described for protobufjs's
 * light runtime. The event verifier's worker thread decodes only these: loading the generated classes of every Sigil
 * message (proto/gen/sigil.js, with the gRPC definitions beside them) would cost that thread several MB for nothing.
 * event-envelope.test.ts checks these descriptors against events.proto and the generated codec, so they cannot drift.
 */
export const ENVELOPE_DESCRIPTOR = {
  nested: {
    sigil: {
      nested: {
        v1: {
          nested: {
            SignedEvent: {
              fields: {
                body: { type: 'bytes', id: 1 },
                signature: { type: 'bytes', id: 2 },
                signerChain: { rule: 'repeated', type: 'bytes', id: 3 },
              },
            },
            EventBody: {
              fields: {
                kind: { type: 'string', id: 1 },
                trustDomain: { type: 'string', id: 2 },
                sequence: { type: 'uint64', id: 3 },
                issuedAtUnixMs: { type: 'int64', id: 4 },
                payload: { type: 'bytes', id: 5 },
              },
            },
          },
        },
      },
    },
  },
} as const;

export interface SignedEventMessage {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly signerChain: readonly Uint8Array[];
}

export interface EventBodyMessage {
  readonly kind: string;
  readonly trustDomain: string;
  readonly sequence: number;
  readonly issuedAtUnixMs: number;
  readonly payload: Uint8Array;
}

// As in the generated module: Sigil's 64-bit fields stay below 2^53 and decode to plain numbers, never Long. This sets
// the process-wide protobufjs runtime the same way proto/gen/sigil.js does, so loading either first changes nothing.
protobuf.util.Long = null as unknown as typeof protobuf.util.Long;
protobuf.configure();

const root = protobuf.Root.fromJSON(ENVELOPE_DESCRIPTOR);
const signedEventType = root.lookupType('sigil.v1.SignedEvent');
const eventBodyType = root.lookupType('sigil.v1.EventBody');

/** Decodes a SignedEvent; throws on bytes that are not one (absent fields read as empty, as protobuf does). */
export function decodeSignedEvent(bytes: Uint8Array): SignedEventMessage {
  return signedEventType.decode(bytes) as unknown as SignedEventMessage;
}

/** Decodes an EventBody; throws on bytes that are not one. */
export function decodeEventBody(bytes: Uint8Array): EventBodyMessage {
  return eventBodyType.decode(bytes) as unknown as EventBodyMessage;
}
