import * as asn1js from 'asn1js';

/**
 * ECDSA signatures come in two encodings: r‖s of fixed width (PKCS#11 CKM_ECDSA, WebCrypto) and the DER
 * ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } that X.509 and CMS carry. asn1js does the DER.
 */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error(`an ECDSA r‖s signature of ${raw.length} bytes`);
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array) => asn1js.Integer.fromBigInt(BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
  const sequence = new asn1js.Sequence({ value: [integer(raw.subarray(0, half)), integer(raw.subarray(half))] });
  return new Uint8Array(sequence.toBER(false));
}

/** The r‖s form of a DER ECDSA-Sig-Value, each half `size` bytes (32 for P-256, 48 for P-384). */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array {
  const parsed = asn1js.fromBER(Uint8Array.from(der));
  const sequence = parsed.result;
  if (parsed.offset === -1 || !(sequence instanceof asn1js.Sequence) || sequence.valueBlock.value.length !== 2) {
    throw new Error('not a DER ECDSA-Sig-Value');
  }
  const out = new Uint8Array(size * 2);
  sequence.valueBlock.value.forEach((part, index) => {
    if (!(part instanceof asn1js.Integer)) throw new Error('not a DER ECDSA-Sig-Value');
    const hex = part
      .toBigInt()
      .toString(16)
      .padStart(size * 2, '0');
    if (hex.length > size * 2) throw new Error('an ECDSA signature half longer than the curve');
    out.set(Buffer.from(hex, 'hex'), index * size);
  });
  return out;
}
