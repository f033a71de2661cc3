/**
 * The few DER primitives the SVID template needs: walking the TLVs of a certificate the library built, and wrapping
 * filled-in content in a tag and a definite length. Not an ASN.1 library: no types, no schemas, no BER. Every
 * certificate assembled with these is compared byte for byte with the library's encoding (svid-der-template.ts).
 */

/** One TLV inside a buffer: `start`..`end` is the whole element, `contentStart`..`end` its content. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the TLV at `at`; throws RangeError when it runs past `limit` or uses a length form DER forbids. */
export function readTlv(der: Uint8Array, at: number, limit = der.length): Tlv {
  const tag = der[at];
  let length = der[at + 1];
  if (tag === undefined || length === undefined) throw new RangeError(`no TLV at offset ${at}`);
  let contentStart = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new RangeError(`unsupported length form at offset ${at}`);
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[contentStart + i] ?? 0);
    contentStart += octets;
  }
  const end = contentStart + length;
  if (end > limit) throw new RangeError(`TLV at offset ${at} runs past its container`);
  return { tag, start: at, contentStart, end };
}

/** The TLVs directly inside `parent`, in order. */
export function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] {
  const children: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    children.push(child);
    at = child.end;
  }
  return children;
}

export const bytesOf = (der: Uint8Array, tlv: Tlv): Uint8Array => der.subarray(tlv.start, tlv.end);

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
  return [0x80 | octets.length, ...octets];
}

/** `tag`, the DER length of the parts together, then the parts. */
export function tlv(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const header = [tag, ...lengthOctets(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let at = header.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export const DER = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  UTC_TIME: 0x17,
  SEQUENCE: 0x30,
  URI_NAME: 0x86,
} as const;
