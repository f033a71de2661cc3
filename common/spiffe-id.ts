import { ErrorCode, SigilError } from './errors.ts';

/** A parsed SPIFFE ID. Construct only through `parseSpiffeId`, so every instance obeys the standard. */
export interface SpiffeId {
  readonly trustDomain: string;
  /** The path with its leading '/', or '' for a trust-domain ID. */
  readonly path: string;
  /** The canonical text form, identical to the input that was accepted. */
  readonly uri: string;
}

const SCHEME = 'spiffe://';
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_BYTES = 255;

/**
 * Parses a SPIFFE ID exactly as the SPIFFE-ID standard defines it: no normalisation, no `new URL()`
 * (which lowercases schemes and resolves dot segments). Each rejection names the rule broken.
 */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (rule: string): never => {
    throw new SigilError(ErrorCode.SPIFFE_ID_INVALID, `invalid SPIFFE ID ${JSON.stringify(text)}: ${rule}`);
  };
  if (typeof text !== 'string' || text === '') fail('it is empty');
  if (Buffer.byteLength(text, 'utf8') > MAX_ID_BYTES) fail(`it is longer than ${MAX_ID_BYTES} bytes`);
  if (!text.startsWith(SCHEME)) {
    if (text.toLowerCase().startsWith(SCHEME)) fail('the scheme must be lowercase "spiffe://"');
    fail('it must start with "spiffe://"');
  }
  const rest = text.slice(SCHEME.length);
  if (rest.includes('?')) fail('a query is not allowed');
  if (rest.includes('#')) fail('a fragment is not allowed');
  if (rest.includes('%')) fail('percent-encoding is not allowed');
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  checkTrustDomainText(trustDomain, fail);
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (const [i, segment] of segments.entries()) {
      if (segment === '')
        fail(i === segments.length - 1 ? 'a trailing "/" is not allowed' : 'empty path segments are not allowed');
      if (segment === '.' || segment === '..') fail('"." and ".." path segments are not allowed');
      if (!SEGMENT_CHARS.test(segment))
        fail(`path segment ${JSON.stringify(segment)} may only contain letters, digits, ".", "-" and "_"`);
    }
  }
  return Object.freeze({ trustDomain, path, uri: text });
}

/** Validates a bare trust-domain name (as in config files and `ca init --trust-domain`). */
export function parseTrustDomain(name: string): string {
  checkTrustDomainText(name, (rule) => {
    throw new SigilError(ErrorCode.SPIFFE_ID_INVALID, `invalid trust domain ${JSON.stringify(name)}: ${rule}`);
  });
  return name;
}

function checkTrustDomainText(td: string, fail: (rule: string) => never): void {
  if (td === '') fail('the trust domain is empty');
  if (/^spiffe:\/\//i.test(td)) fail(`give the trust domain without the spiffe:// scheme, e.g. ${td.slice(9)}`);
  if (td.includes('@')) fail('userinfo is not allowed in the trust domain');
  if (td.includes(':')) fail('a port is not allowed in the trust domain');
  if (Buffer.byteLength(td, 'utf8') > MAX_TRUST_DOMAIN_BYTES)
    fail(`the trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  if (!TRUST_DOMAIN_CHARS.test(td))
    fail('the trust domain may only contain lowercase letters, digits, ".", "-" and "_"');
}

/** Parses an ID that must name a workload (non-empty path) in `trustDomain`. */
export function parseWorkloadId(text: string, trustDomain: string): SpiffeId {
  const id = parseSpiffeId(text);
  if (id.path === '') {
    throw new SigilError(
      ErrorCode.SPIFFE_ID_INVALID,
      `invalid SPIFFE ID ${JSON.stringify(text)}: a workload ID needs a path, e.g. ${text}/ns/default/sa/api`,
    );
  }
  if (id.trustDomain !== trustDomain) {
    throw new SigilError(
      ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
      `SPIFFE ID ${JSON.stringify(text)} is in trust domain "${id.trustDomain}", but this control plane serves "${trustDomain}"`,
    );
  }
  return id;
}

export function trustDomainId(trustDomain: string): string {
  return `${SCHEME}${trustDomain}`;
}

/** Identities the control plane reserves for itself. */
export function controlPlaneId(trustDomain: string): string {
  return `${SCHEME}${trustDomain}/sigil/control-plane`;
}

export function adminId(trustDomain: string, name: string): string {
  return `${SCHEME}${trustDomain}/sigil/admin/${name}`;
}

export function isAdminId(id: SpiffeId): boolean {
  return /^\/sigil\/admin\/[^/]+$/.test(id.path);
}
