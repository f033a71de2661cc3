import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import t from 'tap';
import { sigil } from '../../proto/index.ts';
import { decodeEventBody, decodeSignedEvent, ENVELOPE_DESCRIPTOR } from './event-envelope.ts';

const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
// Above 2^32 on purpose: a 64-bit field that lost its high word, or arrived as Long, fails the round trips.
const SEQUENCE = 2 ** 40 + 7;
const ISSUED_AT = 1_767_225_600_123;

async function protoTypes(): Promise<protobuf.Root> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : PROTO_ROOT + target);
  return root.load('sigil/v1/events.proto');
}

/** The fields read back as plain values, or the error's class: the light and the generated codec must agree. */
function outcome(decode: () => object, fields: readonly string[]): string {
  try {
    const message = decode() as Record<string, unknown>;
    return JSON.stringify(fields.map((f) => plain(message[f])));
  } catch (err) {
    return `throws ${(err as Error).name}`;
  }
}

/** Bytes as plain arrays, so that Buffer and Uint8Array compare alike. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

/** A fixed pseudo-random sequence (LCG), so a failure reproduces. */
function bytesFrom(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

t.test('event envelope codec (the verifier thread decodes without the generated classes)', async (t) => {
  t.test('the descriptors are the messages of events.proto: names, field numbers, types and rules', async (t) => {
    const root = await protoTypes();
    const described = ENVELOPE_DESCRIPTOR.nested.sigil.nested.v1.nested;
    for (const name of ['SignedEvent', 'EventBody'] as const) {
      const fields = root.lookupType(`sigil.v1.${name}`).fields;
      const fromProto = Object.fromEntries(
        Object.values(fields).map((f) => [f.name, { type: f.type, id: f.id, repeated: f.repeated }]),
      );
      const fromDescriptor = Object.fromEntries(
        Object.entries(described[name].fields).map(([fieldName, f]) => [
          fieldName,
          { type: f.type, id: f.id, repeated: 'rule' in f && f.rule === 'repeated' },
        ]),
      );
      t.same(fromDescriptor, fromProto, `${name} in event-envelope.ts matches events.proto`);
    }
  });

  t.test('what the generated codec encodes decodes to the same values', async (t) => {
    const body = sigil.v1.EventBody.encode({
      kind: 'revocation',
      trustDomain: 'example.org',
      sequence: SEQUENCE,
      issuedAtUnixMs: ISSUED_AT,
      payload: Uint8Array.from([1, 2, 3]),
    }).finish();
    const signed = sigil.v1.SignedEvent.encode({
      body,
      signature: Uint8Array.from([9, 8]),
      signerChain: [Uint8Array.from([0x30, 1]), Uint8Array.from([0x30, 2])],
    }).finish();
    const decoded = decodeSignedEvent(signed);
    t.same([...decoded.body], [...body]);
    t.same([...decoded.signature], [9, 8]);
    t.same(
      decoded.signerChain.map((c) => [...c]),
      [
        [0x30, 1],
        [0x30, 2],
      ],
    );
    const decodedBody = decodeEventBody(decoded.body);
    t.equal(decodedBody.kind, 'revocation');
    t.equal(decodedBody.trustDomain, 'example.org');
    t.equal(decodedBody.sequence, SEQUENCE, 'uint64 is a number, high word kept');
    t.equal(decodedBody.issuedAtUnixMs, ISSUED_AT, 'int64 is a number');
    t.same([...decodedBody.payload], [1, 2, 3]);
  });

  t.test('absent fields read as empty, as with the generated classes', async (t) => {
    const signed = decodeSignedEvent(new Uint8Array(0));
    t.equal(signed.body.length, 0);
    t.equal(signed.signature.length, 0);
    t.same(signed.signerChain, []);
    const body = decodeEventBody(new Uint8Array(0));
    t.equal(body.kind, '');
    t.equal(body.trustDomain, '');
    t.equal(body.sequence, 0);
    t.equal(body.payload.length, 0);
  });

  t.test(
    'valid, truncated, altered and random bytes decode (or fail) exactly as with the generated classes',
    async (t) => {
      const body = sigil.v1.EventBody.encode({
        kind: 'bundle',
        trustDomain: 'example.org',
        sequence: SEQUENCE,
        issuedAtUnixMs: ISSUED_AT,
        payload: bytesFrom(7, 40),
      }).finish();
      const signed = sigil.v1.SignedEvent.encode({
        body,
        signature: bytesFrom(8, 70),
        signerChain: [bytesFrom(9, 30), bytesFrom(10, 20)],
      }).finish();
      const inputs: Uint8Array[] = [];
      for (const valid of [signed, body]) {
        for (let i = 0; i < valid.length; i++) {
          inputs.push(valid.subarray(0, i));
          const altered = Uint8Array.from(valid);
          altered[i] = bytesFrom(i + 1, 1)[0] ?? 0;
          inputs.push(altered);
        }
      }
      for (let seed = 1; seed <= 1000; seed++) inputs.push(bytesFrom(seed, 1 + (seed % 64)));
      const signedFields = ['body', 'signature', 'signerChain'];
      const bodyFields = ['kind', 'trustDomain', 'sequence', 'issuedAtUnixMs', 'payload'];
      const differing: number[] = [];
      let decodedWithFields = 0;
      inputs.forEach((bytes, i) => {
        const light = outcome(() => decodeSignedEvent(bytes), signedFields);
        const lightBody = outcome(() => decodeEventBody(bytes), bodyFields);
        if (light !== outcome(() => sigil.v1.SignedEvent.decode(bytes), signedFields)) differing.push(i);
        else if (lightBody !== outcome(() => sigil.v1.EventBody.decode(bytes), bodyFields)) differing.push(i);
        if (!light.startsWith('throws') && light !== '[[],[],[]]') decodedWithFields++;
      });
      t.same(differing, [], 'no input decodes differently (input indexes listed)');
      t.ok(decodedWithFields > 100, `${decodedWithFields} inputs decoded to a message with fields, not only failures`);
    },
  );
});
