import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { Clock } from '../../../common/clock.ts';
import { ErrorCode, SigilError } from '../../../common/errors.ts';
import { LogField, type Logger } from '../../../common/logger.ts';
import { parseX509Facts } from '../../../common/x509-facts.ts';
import { timeStampingProblem } from '../certificate-purpose.ts';
import { decimalOid, digestOfOid } from '../oids.ts';
import { assertKeyMatchesCertificate, type SigningKey } from '../signing-key.ts';
import { digestOf, integerHex } from '../timestamp-token.ts';
import { buildTimestampToken } from './token-builder.ts';
import type { TimestampLog } from './timestamp-log.ts';

/**
 * An RFC 3161 time-stamp authority: TimeStampReq in, TimeStampResp out. Every token carries a serial from the log
 * (never repeated, across restarts too), genTime in whole seconds with the configured accuracy, the request's nonce,
 * the TSA's name, and an ESSCertIDv2 naming the TSA certificate; it is recorded before it is returned, so no token
 * exists that the log does not know. Refusals are TimeStampResp rejections with the RFC's failure bit and a text.
 */

/**
 * The policy OID when the operator names none: a UUID-derived OID (ITU-T X.667, arc 2.25) that needs no registration.
 * Organisations with their own arc should set theirs (--policy).
 */
export const DEFAULT_TSA_POLICY = '2.25.256090522094295837721338069607557167285';

export interface TimestampAuthorityOptions {
  /** The TSA certificate first, then its CAs (without the root). */
  readonly chainDer: readonly Uint8Array[];
  /** The policy OID written into every token. */
  readonly policy: string;
  /** Further policies a request may ask for; the token then names the requested one. */
  readonly acceptedPolicies?: readonly string[];
  /** Default 1 s: genTime is in whole seconds. */
  readonly accuracyMs?: number;
}

export interface TimestampAuthorityDeps {
  readonly key: SigningKey;
  readonly log: TimestampLog;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** PKIFailureInfo bits (RFC 3161 2.4.2). */
const FAILURE = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  systemFailure: 25,
} as const;
type Failure = keyof typeof FAILURE;

class Refusal extends Error {
  readonly failure: Failure;
  constructor(failure: Failure, message: string) {
    super(message);
    this.failure = failure;
  }
}

export class TimestampAuthority {
  readonly #options: Required<TimestampAuthorityOptions>;
  readonly #deps: TimestampAuthorityDeps;
  readonly #facts: ReturnType<typeof parseX509Facts>;

  /** Checks the certificate's purpose and that the key is its own; SIGNING_CERT / SIGNING_KEY otherwise. */
  constructor(options: TimestampAuthorityOptions, deps: TimestampAuthorityDeps) {
    const leaf = options.chainDer[0];
    if (!leaf) throw new SigilError(ErrorCode.SIGNING_CERT, 'the TSA needs its certificate: pass --cert');
    this.#facts = parseX509Facts(leaf);
    const problem = timeStampingProblem(this.#facts);
    if (problem) throw new SigilError(ErrorCode.SIGNING_CERT, `${problem}: issue one with sigil tsa cert`);
    assertKeyMatchesCertificate(deps.key, publicKeyOf(leaf), `TSA certificate ${this.#facts.serial}`);
    if (!/^[0-2](\.\d+)+$/.test(options.policy))
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `TSA policy ${JSON.stringify(options.policy)} is not an OID`);
    this.#options = { acceptedPolicies: [], accuracyMs: 1000, ...options };
    this.#deps = deps;
  }

  get certificate(): { readonly serial: string; readonly subject: string; readonly notAfter: number } {
    return { serial: this.#facts.serial, subject: this.#facts.subject, notAfter: this.#facts.notAfter };
  }

  /** Answers one request; never throws for a bad request or an internal failure (both become rejections). */
  async respond(requestDer: Uint8Array, client = ''): Promise<Uint8Array> {
    try {
      const request = this.#parse(requestDer);
      return await this.#grant(request, client);
    } catch (err) {
      const refusal =
        err instanceof Refusal ? err : new Refusal('systemFailure', 'the TSA could not issue a token; retry later');
      const level = err instanceof Refusal ? 'info' : 'error';
      this.#deps.logger[level](
        { client, failure: refusal.failure, ...(err instanceof Refusal ? {} : { err }) },
        `timestamp request refused: ${refusal.message}`,
      );
      return rejection(refusal);
    }
  }

  #parse(der: Uint8Array): pkijs.TimeStampReq {
    let request: pkijs.TimeStampReq;
    try {
      request = pkijs.TimeStampReq.fromBER(Uint8Array.from(der));
    } catch {
      throw new Refusal('badDataFormat', 'the body is not a DER TimeStampReq');
    }
    if (request.version !== 1) throw new Refusal('badRequest', `TimeStampReq version ${request.version} is not 1`);
    const digest = digestOfOid(request.messageImprint.hashAlgorithm.algorithmId);
    if (digest === undefined) {
      throw new Refusal(
        'badAlg',
        `hash algorithm ${request.messageImprint.hashAlgorithm.algorithmId} is not accepted: use SHA-256, SHA-384 or SHA-512`,
      );
    }
    if (
      request.messageImprint.hashedMessage.valueBlock.valueHexView.byteLength !==
      digestOf(digest, new Uint8Array()).length
    ) {
      throw new Refusal('badDataFormat', `the message imprint is not a ${digest} digest`);
    }
    if (request.reqPolicy !== undefined) request.reqPolicy = decimalOid(request.reqPolicy);
    if (request.reqPolicy !== undefined && !this.#policies().includes(request.reqPolicy)) {
      throw new Refusal(
        'unacceptedPolicy',
        `policy ${request.reqPolicy} is not served here (${this.#policies().join(', ')})`,
      );
    }
    if ((request.extensions ?? []).length > 0) {
      throw new Refusal('unacceptedExtension', 'this TSA accepts no request extensions');
    }
    return request;
  }

  #policies(): string[] {
    return [this.#options.policy, ...this.#options.acceptedPolicies];
  }

  async #grant(request: pkijs.TimeStampReq, client: string): Promise<Uint8Array> {
    const { clock, key, log, logger } = this.#deps;
    const genTime = Math.floor(clock.now() / 1000) * 1000;
    if (genTime < this.#facts.notBefore || genTime > this.#facts.notAfter) {
      throw new Error(`the TSA certificate ${this.#facts.serial} is not valid at ${new Date(genTime).toISOString()}`);
    }
    const serial = await log.nextSerial();
    const policy = request.reqPolicy ?? this.#options.policy;
    const token = await buildTimestampToken({
      chainDer: this.#options.chainDer,
      key,
      policy,
      messageImprint: request.messageImprint,
      serial,
      genTime,
      accuracyMs: this.#options.accuracyMs,
      ...(request.nonce ? { nonce: request.nonce } : {}),
      includeCertificates: request.certReq === true,
    });
    const record = {
      serial: Buffer.from(serial)
        .toString('hex')
        .replace(/^(00)+(?=.)/, ''),
      genTime,
      policy,
      hashAlgorithm: request.messageImprint.hashAlgorithm.algorithmId,
      imprint: Buffer.from(request.messageImprint.hashedMessage.valueBlock.valueHexView).toString('hex'),
      nonce: request.nonce ? integerHex(request.nonce) : null,
      client,
      token,
    };
    await log.record(record);
    logger.info(
      {
        [LogField.serial]: record.serial,
        gen_time: new Date(genTime).toISOString(),
        policy,
        imprint: record.imprint,
        nonce: record.nonce,
        client,
      },
      'timestamp issued',
    );
    const response = new pkijs.TimeStampResp({
      status: new pkijs.PKIStatusInfo({ status: pkijs.PKIStatus.granted }),
      timeStampToken: pkijs.ContentInfo.fromBER(token),
    });
    return new Uint8Array(response.toSchema().toBER());
  }
}

function publicKeyOf(certDer: Uint8Array): Uint8Array {
  return new Uint8Array(pkijs.Certificate.fromBER(certDer).subjectPublicKeyInfo.toSchema().toBER());
}

/** A rejection with the failure's bit set in a PKIFailureInfo BIT STRING (bit 0 is the most significant). */
function rejection(refusal: Refusal): Uint8Array {
  const bit = FAILURE[refusal.failure];
  const bytes = new Uint8Array(Math.floor(bit / 8) + 1);
  bytes[Math.floor(bit / 8)] = 0x80 >> (bit % 8);
  const response = new pkijs.TimeStampResp({
    status: new pkijs.PKIStatusInfo({
      status: pkijs.PKIStatus.rejection,
      statusStrings: [new asn1js.Utf8String({ value: refusal.message })],
      failInfo: new asn1js.BitString({ valueHex: bytes, unusedBits: 7 - (bit % 8) }),
    }),
  });
  return new Uint8Array(response.toSchema().toBER());
}
