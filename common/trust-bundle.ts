import { X509Certificate } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import { ErrorCode, SigilError } from './errors.ts';
import { parseTrustDomain } from './spiffe-id.ts';
import { parseX509Facts, type X509Facts } from './x509-facts.ts';

/**
 * The X.509 roots of one trust domain, with the bundle sequence number and refresh hint of the SPIFFE Trust
 * Domain and Bundle standard. Immutable: a rotation produces a new bundle with a higher sequence.
 * Every root is decoded and must be a CA; anything else is BUNDLE_INVALID, so a bad bundle never replaces a good one.
 */

/** One key of the SPIFFE bundle JWKS form. Only `use: "x509-svid"` keys carry roots. */
export interface BundleJwk {
  readonly use?: string;
  readonly kty?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly kid?: string;
  readonly x5c?: readonly string[];
}

export interface BundleJwks {
  readonly keys: readonly BundleJwk[];
  readonly spiffe_sequence?: number;
  readonly spiffe_refresh_hint?: number;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function invalid(message: string, cause?: unknown): never {
  throw new SigilError(ErrorCode.BUNDLE_INVALID, message, cause === undefined ? {} : { cause });
}

/** Splits PEM text into the DER of its CERTIFICATE blocks; text between blocks is ignored, other block types refused. */
export function pemCertificatesToDer(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const label = m[1] ?? '';
    if (label !== 'CERTIFICATE')
      invalid(`the PEM holds a "${label}" block; a bundle or chain may contain only CERTIFICATE blocks`);
    const body = (m[2] ?? '').replace(/\s+/g, '');
    if (!BASE64.test(body)) invalid('a CERTIFICATE block is not valid base64: re-export the certificate');
    out.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  return out;
}

export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

export interface TrustBundleInit {
  readonly trustDomain: string;
  readonly roots: readonly Uint8Array[];
  readonly sequence: number;
  readonly refreshHintSeconds?: number;
}

export class TrustBundle {
  readonly trustDomain: string;
  /** DER of each root, duplicates removed, in first-seen order. */
  readonly roots: readonly Uint8Array[];
  /** The roots as canonical PEM, ready for a TLS `ca` option. */
  readonly pem: string;
  readonly sequence: number;
  readonly refreshHintSeconds: number | undefined;

  /** Validates and freezes; throws BUNDLE_INVALID for empty bundles, undecodable or non-CA roots. */
  constructor(init: TrustBundleInit) {
    this.trustDomain = parseTrustDomain(init.trustDomain);
    if (!Number.isSafeInteger(init.sequence) || init.sequence < 0)
      invalid(`bundle sequence must be a non-negative integer, got ${init.sequence}`);
    const hint = init.refreshHintSeconds;
    if (hint !== undefined && (!Number.isSafeInteger(hint) || hint <= 0))
      invalid(`bundle refresh hint must be a positive number of seconds, got ${hint}`);
    this.sequence = init.sequence;
    this.refreshHintSeconds = hint;
    this.roots = Object.freeze(dedupe(init.roots).map((der, i) => checkRoot(der, i)));
    if (this.roots.length === 0)
      invalid(`the bundle for ${this.trustDomain} holds no certificates: supply at least one root CA`);
    this.pem = this.roots.map(derToPem).join('');
    Object.freeze(this);
  }

  static fromPem(trustDomain: string, pem: string, sequence: number, refreshHintSeconds?: number): TrustBundle {
    return new TrustBundle({
      trustDomain,
      roots: pemCertificatesToDer(pem),
      sequence,
      ...(refreshHintSeconds === undefined ? {} : { refreshHintSeconds }),
    });
  }

  /** Reads the SPIFFE bundle JWKS form (object or JSON text). Keys of other uses (jwt-svid) are ignored. */
  static fromJwks(trustDomain: string, json: string | unknown): TrustBundle {
    let doc: unknown = json;
    if (typeof json === 'string') {
      try {
        doc = JSON.parse(json);
      } catch (cause) {
        invalid('the bundle is not valid JSON', cause);
      }
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as BundleJwks).keys))
      invalid('the bundle JSON needs a "keys" array');
    const { keys, spiffe_sequence: seq, spiffe_refresh_hint: hint } = doc as BundleJwks;
    if (seq !== undefined && typeof seq !== 'number') invalid('spiffe_sequence must be a number');
    if (hint !== undefined && typeof hint !== 'number') invalid('spiffe_refresh_hint must be a number');
    const roots = keys.filter((k) => k?.use === 'x509-svid').map((k, i) => rootFromJwk(k, i));
    return new TrustBundle({
      trustDomain,
      roots,
      sequence: seq ?? 0,
      ...(hint === undefined ? {} : { refreshHintSeconds: hint }),
    });
  }

  toPem(): string {
    return this.pem;
  }

  toJwks(): BundleJwks {
    return {
      keys: this.roots.map((der) => ({
        use: 'x509-svid',
        ...publicJwk(der),
        x5c: [Buffer.from(der).toString('base64')],
      })),
      spiffe_sequence: this.sequence,
      ...(this.refreshHintSeconds === undefined ? {} : { spiffe_refresh_hint: this.refreshHintSeconds }),
    };
  }

  /** Same roots (as a set), regardless of sequence and hint: "would a peer trust the same CAs?". */
  hasSameRoots(other: TrustBundle): boolean {
    if (this.trustDomain !== other.trustDomain || this.roots.length !== other.roots.length) return false;
    const mine = new Set(this.roots.map(hex));
    return other.roots.every((r) => mine.has(hex(r)));
  }

  /** Equality by content: trust domain, roots, sequence and refresh hint. */
  equals(other: TrustBundle): boolean {
    return (
      this.hasSameRoots(other) &&
      this.sequence === other.sequence &&
      this.refreshHintSeconds === other.refreshHintSeconds
    );
  }
}

function hex(der: Uint8Array): string {
  return Buffer.from(der).toString('hex');
}

function dedupe(roots: readonly Uint8Array[]): Uint8Array[] {
  const byHex = new Map<string, Uint8Array>();
  for (const r of roots) if (!byHex.has(hex(r))) byHex.set(hex(r), r);
  return [...byHex.values()];
}

function checkRoot(der: Uint8Array, index: number): Uint8Array {
  let facts: X509Facts;
  try {
    facts = parseX509Facts(der);
  } catch (cause) {
    invalid(`bundle certificate #${index + 1} could not be decoded`, cause);
  }
  if (!facts.isCa)
    invalid(
      `bundle certificate #${index + 1} (${facts.subject}) is not a CA: a bundle holds only root or intermediate CA certificates`,
    );
  if (facts.keyUsagePresent && !facts.keyUsage.includes('keyCertSign')) {
    invalid(
      `bundle certificate #${index + 1} (${facts.subject}) lacks the keyCertSign key usage, so it cannot anchor a chain`,
    );
  }
  return new Uint8Array(der);
}

function publicJwk(der: Uint8Array): BundleJwk {
  const jwk: webcrypto.JsonWebKey = new X509Certificate(der).publicKey.export({ format: 'jwk' });
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as BundleJwk;
}

function rootFromJwk(k: BundleJwk, index: number): Uint8Array {
  if (!Array.isArray(k.x5c) || k.x5c.length !== 1 || typeof k.x5c[0] !== 'string' || !BASE64.test(k.x5c[0])) {
    invalid(`bundle key #${index + 1} (x509-svid) must carry exactly one base64 certificate in x5c`);
  }
  const der = new Uint8Array(Buffer.from(k.x5c[0], 'base64'));
  let expected: BundleJwk;
  try {
    expected = publicJwk(der);
  } catch (cause) {
    invalid(`bundle key #${index + 1} holds an undecodable certificate`, cause);
  }
  for (const field of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) {
    if (k[field] !== undefined && k[field] !== expected[field]) {
      invalid(`bundle key #${index + 1}: its "${field}" does not match the key of its x5c certificate`);
    }
  }
  return der;
}
