import 'reflect-metadata';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import type { webcrypto } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { signingAlgorithm } from '../../common/key-pair.ts';
import { type CaSigningKey, generatorSigning } from './sign-certificate.ts';

/** One revoked certificate in a CRL. Times are Unix milliseconds. */
export interface CrlEntry {
  /** Hex, as the inventory holds it. */
  readonly serial: string;
  readonly revokedAt: number;
  /** RFC 5280 CRLReason code; 0 (unspecified) is left out of the entry, as RFC 5280 asks. */
  readonly reasonCode: number;
  /** From when the certificate should be treated as invalid, when earlier than revokedAt. */
  readonly invalidSince?: number;
}

export interface CrlRequest {
  readonly crlNumber: number;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly entries: readonly CrlEntry[];
}

export interface CrlIssuer {
  readonly certificate: x509.X509Certificate;
  /** Hex. */
  readonly subjectKeyId: string;
  /** In memory or a key store's (a file's or a PKCS#11 token's). */
  readonly key: CaSigningKey;
  readonly keyType: KeyType;
}

const crypto = globalThis.crypto;
/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
const GENERALIZED_TIME_FROM = Date.UTC(2050, 0, 1);

/**
 * Builds and signs X.509 v2 CRLs whose size grows to 100,000 entries and more. Why not `X509CrlGenerator` +
 * `new X509Crl(der)`: the generator looks for duplicate serials by a linear scan per entry (quadratic), and a
 * general re-parse of the result stops at asn1js's 10,000-node default (about 1,250 entries with reason codes).
 * Here every entry is encoded once by asn1js and kept (entries never change while listed), the entry list is
 * joined as one pre-encoded SEQUENCE, and the check is the signature over the exact to-be-signed bytes against the
 * issuer's public key: nothing large is ever parsed.
 */
export class CrlBuilder {
  /** Encoded entries by their content; rebuilt on every CRL so entries that left the CRL are forgotten. */
  #encoded = new Map<string, Uint8Array>();

  async build(issuer: CrlIssuer, request: CrlRequest): Promise<Uint8Array> {
    if (!Number.isSafeInteger(request.crlNumber) || request.crlNumber < 0) {
      throw new SigilError(ErrorCode.INTERNAL, `CRL number ${request.crlNumber} is not a non-negative integer`);
    }
    const signer = generatorSigning(issuer.key);
    const algorithm = { ...signingAlgorithm(issuer.keyType), ...signer.signingKey.algorithm } as webcrypto.Algorithm;
    const signatureAlgorithm = new x509.AlgorithmProvider().toAsnAlgorithm(algorithm);
    const tbs = tbsWithoutEntries(issuer, request, signatureAlgorithm);
    if (request.entries.length > 0) {
      // revokedCertificates sits after nextUpdate, before the [0] extensions.
      tbs.valueBlock.value.splice(5, 0, preEncodedSequence(this.#entryList(request.entries)));
    }
    const tbsDer = tbs.toBER();
    const rawSignature = await signer.crypto.subtle.sign(algorithm, signer.signingKey, tbsDer);
    const publicKey = await issuer.certificate.publicKey.export(algorithm, ['verify'], crypto);
    if (!(await crypto.subtle.verify(algorithm, publicKey, rawSignature, tbsDer))) {
      throw new SigilError(
        ErrorCode.INTERNAL,
        'the CRL just signed does not verify against the intermediate CA; it was withheld',
      );
    }
    const certificateList = new asn1js.Sequence({
      value: [
        tbs,
        small(AsnConvert.serialize(signatureAlgorithm)),
        new asn1js.BitString({ valueHex: asnSignature(algorithm, rawSignature) }),
      ],
    });
    return new Uint8Array(certificateList.toBER());
  }

  #entryList(entries: readonly CrlEntry[]): Uint8Array {
    const previous = this.#encoded;
    const next = new Map<string, Uint8Array>();
    const seen = new Set<string>();
    const parts: Uint8Array[] = [];
    const encoder = new EntryEncoder();
    for (const e of entries) {
      const serialKey = e.serial.toLowerCase();
      if (seen.has(serialKey))
        throw new SigilError(ErrorCode.INTERNAL, `serial ${e.serial} appears twice in the CRL entries`);
      seen.add(serialKey);
      const invalidSince = e.invalidSince !== undefined && e.invalidSince < e.revokedAt ? e.invalidSince : undefined;
      const key = `${serialKey}/${e.revokedAt}/${e.reasonCode}/${invalidSince ?? ''}`;
      const der =
        previous.get(key) ?? encoder.encode(positiveSerial(e.serial), e.revokedAt, e.reasonCode, invalidSince);
      next.set(key, der);
      parts.push(der);
    }
    this.#encoded = next;
    return Buffer.concat(parts);
  }
}

function tbsWithoutEntries(
  issuer: CrlIssuer,
  request: CrlRequest,
  signatureAlgorithm: asn1X509.AlgorithmIdentifier,
): asn1js.Sequence {
  const tbs = new asn1X509.TBSCertList({
    version: asn1X509.Version.v2,
    signature: signatureAlgorithm,
    issuer: AsnConvert.parse(issuer.certificate.subjectName.toArrayBuffer(), asn1X509.Name),
    thisUpdate: new asn1X509.Time(new Date(request.thisUpdate)),
    nextUpdate: new asn1X509.Time(new Date(request.nextUpdate)),
    crlExtensions: new asn1X509.Extensions([
      extension(
        asn1X509.id_ce_authorityKeyIdentifier,
        AsnConvert.serialize(
          new asn1X509.AuthorityKeyIdentifier({
            keyIdentifier: new asn1X509.KeyIdentifier(Buffer.from(issuer.subjectKeyId, 'hex')),
          }),
        ),
      ),
      extension(asn1X509.id_ce_cRLNumber, AsnConvert.serialize(new asn1X509.CRLNumber(request.crlNumber))),
    ]),
  });
  return small(AsnConvert.serialize(tbs)) as asn1js.Sequence;
}

function extension(oid: string, value: ArrayBuffer): asn1X509.Extension {
  return new asn1X509.Extension({ extnID: oid, critical: false, extnValue: new OctetString(value) });
}

/** Parses a few hundred bytes we just encoded ourselves (the TBS header, an algorithm identifier). */
function small(der: ArrayBuffer): asn1js.AsnType {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1) throw new SigilError(ErrorCode.INTERNAL, `CRL encoding failed: ${parsed.result.error}`);
  return parsed.result;
}

/** A SEQUENCE whose content is already DER: asn1js writes the tag and length, the content is copied as is. */
function preEncodedSequence(content: Uint8Array): asn1js.Primitive {
  const block = new asn1js.Primitive({ idBlock: { tagClass: 1, tagNumber: 16 }, valueHex: content });
  // The constructor ignores isConstructed; SEQUENCE needs the constructed bit (0x30, not 0x10).
  block.idBlock.isConstructed = true;
  return block;
}

/**
 * Encodes one entry. Entries of one CRL share few distinct times and extension sets, so those blocks are made once
 * per distinct value and reused (asn1js blocks re-encode the same way each time); per entry only the serial and the
 * enclosing SEQUENCE are new objects.
 */
class EntryEncoder {
  readonly #times = new Map<number, asn1js.AsnType>();
  readonly #extensions = new Map<string, asn1js.Sequence>();

  encode(serial: ArrayBuffer, revokedAt: number, reasonCode: number, invalidSince?: number): Uint8Array {
    const extensions = this.#extensionsOf(reasonCode, invalidSince);
    const entry = new asn1js.Sequence({
      value: [new asn1js.Integer({ valueHex: serial }), this.#time(revokedAt), ...(extensions ? [extensions] : [])],
    });
    return new Uint8Array(entry.toBER());
  }

  #time(ms: number): asn1js.AsnType {
    const second = Math.floor(ms / 1000) * 1000;
    let block = this.#times.get(second);
    if (!block) {
      block = time(second);
      this.#times.set(second, block);
    }
    return block;
  }

  #extensionsOf(reasonCode: number, invalidSince?: number): asn1js.Sequence | undefined {
    if (reasonCode === 0 && invalidSince === undefined) return undefined;
    const key = `${reasonCode}/${invalidSince === undefined ? '' : Math.floor(invalidSince / 1000)}`;
    let block = this.#extensions.get(key);
    if (!block) {
      const value: asn1js.Sequence[] = [];
      if (reasonCode !== 0) {
        value.push(entryExtension(asn1X509.id_ce_cRLReasons, new asn1js.Enumerated({ value: reasonCode })));
      }
      if (invalidSince !== undefined) {
        value.push(
          entryExtension(
            asn1X509.id_ce_invalidityDate,
            new asn1js.GeneralizedTime({ valueDate: wholeSecond(invalidSince) }),
          ),
        );
      }
      block = new asn1js.Sequence({ value });
      this.#extensions.set(key, block);
    }
    return block;
  }
}

function entryExtension(oid: string, value: asn1js.AsnType): asn1js.Sequence {
  return new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.OctetString({ valueHex: value.toBER() })],
  });
}

/** RFC 5280 4.1.2.5.2: GeneralizedTime in certificates and CRLs carries no fractional seconds. */
function wholeSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function time(ms: number): asn1js.UTCTime | asn1js.GeneralizedTime {
  const valueDate = wholeSecond(ms);
  return ms < GENERALIZED_TIME_FROM ? new asn1js.UTCTime({ valueDate }) : new asn1js.GeneralizedTime({ valueDate });
}

/** DER INTEGER content of a positive serial given in hex: leading zeros dropped, 0x00 added when the top bit is set. */
function positiveSerial(hex: string): ArrayBuffer {
  let bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  bytes = bytes.subarray(first);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  const out = (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : Buffer.from(bytes);
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
}

/** WebCrypto's ECDSA signature is r||s; X.509 wants the DER SEQUENCE. RSA signatures pass through. */
function asnSignature(algorithm: webcrypto.Algorithm, raw: ArrayBuffer): ArrayBuffer {
  const out =
    algorithm.name === 'ECDSA'
      ? new x509.AsnEcSignatureFormatter().toAsnSignature(algorithm as webcrypto.EcdsaParams, raw)
      : new x509.AsnDefaultSignatureFormatter().toAsnSignature(algorithm, raw);
  if (!out) throw new SigilError(ErrorCode.INTERNAL, `cannot encode a ${algorithm.name} signature for a CRL`);
  return out;
}
