import * as asn1js from 'asn1js';
import { bytesOf, childrenOf, readTlv, type Tlv } from '../ca/der-tlv.ts';

/**
 * The parts of a DER PKCS#10 request the CSR rules read, located by walking its TLVs: the fixed outer shape of
 * RFC 2986, every constructed element checked to be well-formed DER, and the URI SANs of the extensionRequest.
 * A full schema decode cost about a sixth of the control plane's CPU per Attest (issue 18); the library decode stays
 * for what is rarely needed (signing subjects, unusual algorithms), and csr-der.test.ts compares the two.
 */
export interface CsrParts {
  /** The signed certificationRequestInfo, exactly as received. */
  readonly signedBytes: Uint8Array;
  /** DER SubjectPublicKeyInfo of the requested key. */
  readonly spki: Uint8Array;
  /** Dotted OID of the signature algorithm. */
  readonly signatureAlgorithmOid: string;
  /** The signature BIT STRING's content without its unused-bits octet. */
  readonly signature: Uint8Array;
  /** Every URI SAN across the extensionRequest's SAN extensions. */
  readonly uriSans: () => readonly string[];
}

const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  ATTRIBUTES: 0xa0,
  URI_NAME: 0x86,
} as const;

const OID_EXTENSION_REQUEST = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e);
const OID_SUBJECT_ALT_NAME = Uint8Array.of(0x55, 0x1d, 0x11);

/** Signature algorithms seen on nearly every request, by their DER content, so no OID decode is needed for them. */
const KNOWN_SIGNATURE_OIDS = new Map<string, string>([
  ['2a8648ce3d040302', '1.2.840.10045.4.3.2'],
  ['2a8648ce3d040303', '1.2.840.10045.4.3.3'],
  ['2a8648ce3d040304', '1.2.840.10045.4.3.4'],
  ['2a864886f70d01010b', '1.2.840.113549.1.1.11'],
  ['2a864886f70d01010c', '1.2.840.113549.1.1.12'],
  ['2a864886f70d01010d', '1.2.840.113549.1.1.13'],
]);

/** Throws RangeError (the caller's CSR_MALFORMED) for anything that is not a DER PKCS#10 request. */
export function readCsrParts(der: Uint8Array): CsrParts {
  const outer = expect(readTlv(der, 0), TAG.SEQUENCE, 'CertificationRequest');
  if (outer.end !== der.length) throw new RangeError('bytes after the CertificationRequest');
  checkWellFormed(der, outer);
  const [info, algorithm, signature, extra] = childrenOf(der, outer);
  if (extra || !info || !algorithm || !signature) throw new RangeError('a CertificationRequest has three parts');
  expect(info, TAG.SEQUENCE, 'certificationRequestInfo');
  expect(algorithm, TAG.SEQUENCE, 'signatureAlgorithm');
  expect(signature, TAG.BIT_STRING, 'signature');
  const [version, subject, spki, attributes, more] = childrenOf(der, info);
  if (more || !version || !subject || !spki || !attributes) throw new RangeError('a request info has four parts');
  expect(version, TAG.INTEGER, 'version');
  if (version.end - version.contentStart !== 1 || der[version.contentStart] !== 0)
    throw new RangeError('the request version is not v1 (0)');
  expect(subject, TAG.SEQUENCE, 'subject');
  expect(spki, TAG.SEQUENCE, 'subjectPKInfo');
  expect(attributes, TAG.ATTRIBUTES, 'attributes');
  const [oid] = childrenOf(der, algorithm);
  if (!oid) throw new RangeError('a signatureAlgorithm without an OID');
  expect(oid, TAG.OID, 'signature algorithm OID');
  if (der[signature.contentStart] !== 0 || signature.end === signature.contentStart)
    throw new RangeError('the signature BIT STRING has unused bits');
  return {
    signedBytes: bytesOf(der, info),
    spki: bytesOf(der, spki),
    signatureAlgorithmOid: dottedOid(der, oid),
    signature: der.subarray(signature.contentStart + 1, signature.end),
    uriSans: () => uriSansOf(der, attributes),
  };
}

function expect(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) throw new RangeError(`${what} has tag 0x${tlv.tag.toString(16)} at offset ${tlv.start}`);
  return tlv;
}

/** Every constructed element's content is a whole number of TLVs (readTlv already refuses overruns). */
function checkWellFormed(der: Uint8Array, tlv: Tlv, depth = 0): void {
  if (depth > 32) throw new RangeError('nested deeper than any CSR');
  if ((tlv.tag & 0x20) === 0) return;
  for (const child of childrenOf(der, tlv)) checkWellFormed(der, child, depth + 1);
}

function dottedOid(der: Uint8Array, oid: Tlv): string {
  const content = der.subarray(oid.contentStart, oid.end);
  const known = KNOWN_SIGNATURE_OIDS.get(Buffer.from(content).toString('hex'));
  if (known) return known;
  const decoded = asn1js.fromBER(bytesOf(der, oid).slice());
  if (decoded.offset === -1 || !(decoded.result instanceof asn1js.ObjectIdentifier))
    throw new RangeError('the signature algorithm OID cannot be read');
  return decoded.result.valueBlock.toString();
}

const equalContent = (der: Uint8Array, tlv: Tlv, expected: Uint8Array): boolean =>
  tlv.end - tlv.contentStart === expected.length && expected.every((b, i) => der[tlv.contentStart + i] === b);

function uriSansOf(der: Uint8Array, attributes: Tlv): readonly string[] {
  const uris: string[] = [];
  for (const attribute of childrenOf(der, attributes)) {
    const [type, values] = childrenOf(der, expect(attribute, TAG.SEQUENCE, 'attribute'));
    if (!type || !values) throw new RangeError('an attribute without type or values');
    if (!equalContent(der, expect(type, TAG.OID, 'attribute type'), OID_EXTENSION_REQUEST)) continue;
    for (const extensions of childrenOf(der, expect(values, TAG.SET, 'attribute values'))) {
      for (const extension of childrenOf(der, expect(extensions, TAG.SEQUENCE, 'extensions'))) {
        const parts = childrenOf(der, expect(extension, TAG.SEQUENCE, 'extension'));
        const id = parts[0];
        const value = parts.at(-1);
        if (!id || !value || parts.length > 3 || (parts.length === 3 && parts[1]?.tag !== TAG.BOOLEAN))
          throw new RangeError('an extension is not {extnID, critical, extnValue}');
        expect(value, TAG.OCTET_STRING, 'extnValue');
        if (!equalContent(der, expect(id, TAG.OID, 'extnID'), OID_SUBJECT_ALT_NAME)) continue;
        const names = readTlv(der, value.contentStart, value.end);
        if (names.end !== value.end) throw new RangeError('bytes after the GeneralNames');
        checkWellFormed(der, expect(names, TAG.SEQUENCE, 'GeneralNames'));
        for (const name of childrenOf(der, names)) {
          if (name.tag === TAG.URI_NAME)
            uris.push(Buffer.from(der.subarray(name.contentStart, name.end)).toString('latin1'));
        }
      }
    }
  }
  return Object.freeze(uris);
}
