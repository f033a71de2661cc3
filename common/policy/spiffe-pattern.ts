/**
 * SPIFFE ID patterns for allow-policies. A pattern is a SPIFFE ID whose path segments may be `*` (exactly one whole
 * segment) or, as the last segment only, `**` (one or more segments: `ns/batch/**` matches everything below
 * `ns/batch`, not `ns/batch` itself). The trust domain is always literal.
 */

const SCHEME = 'spiffe://';
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;

export const ONE_SEGMENT = '*';
export const REST = '**';

export interface IdPattern {
  readonly text: string;
  /** The trust domain followed by the path segments. */
  readonly segments: readonly string[];
  /** True when no segment is a wildcard: the pattern matches only the identical ID. */
  readonly exact: boolean;
}

export type PatternResult = { ok: true; pattern: IdPattern } | { ok: false; message: string; trustDomain?: boolean };

/** Splits a SPIFFE ID into [trustDomain, ...segments]; null for anything that is not a `spiffe://` URI. */
export function splitId(id: string): string[] | null {
  if (!id.startsWith(SCHEME)) return null;
  // Splitting the whole ID and dropping "spiffe:" and "" measured faster than splitting a slice of it.
  return id.split('/').slice(2);
}

/**
 * Parses an ID or pattern that must name workloads in `trustDomain`. Each failure names the rule broken;
 * `trustDomain: true` marks a well-formed pattern in another trust domain.
 */
export function parseIdPattern(text: string, trustDomain: string): PatternResult {
  const fail = (rule: string): PatternResult => ({ ok: false, message: `${JSON.stringify(text)}: ${rule}` });
  if (text === '') return fail('it is empty');
  if (!text.startsWith(SCHEME)) return fail('it must start with "spiffe://"');
  for (const c of ['?', '#', '%']) if (text.includes(c)) return fail(`"${c}" is not allowed in a SPIFFE ID`);
  const segments = text.slice(SCHEME.length).split('/');
  const td = segments[0] ?? '';
  if (td.includes('*')) return fail('patterns are not allowed in the trust domain; write it out in full');
  if (td === '') return fail('the trust domain is empty');
  if (!TRUST_DOMAIN_CHARS.test(td))
    return fail('the trust domain may only contain lowercase letters, digits, ".", "-" and "_"');
  if (segments.length === 1)
    return fail(
      `it names the whole trust domain; a workload ID needs a path (use spiffe://${td}/** for every workload)`,
    );
  let exact = true;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] ?? '';
    const last = i === segments.length - 1;
    if (s === REST) {
      if (!last) return fail('"**" may only be the last path segment');
      exact = false;
    } else if (s === ONE_SEGMENT) {
      exact = false;
    } else if (s.includes('*')) {
      return fail(`path segment ${JSON.stringify(s)}: "*" and "**" must be whole path segments`);
    } else if (s === '') {
      return fail(last ? 'a trailing "/" is not allowed' : 'empty path segments are not allowed');
    } else if (s === '.' || s === '..') {
      return fail('"." and ".." path segments are not allowed');
    } else if (!SEGMENT_CHARS.test(s)) {
      return fail(`path segment ${JSON.stringify(s)} may only contain letters, digits, ".", "-" and "_"`);
    }
  }
  if (td !== trustDomain) {
    return {
      ok: false,
      trustDomain: true,
      message: `${JSON.stringify(text)} is in trust domain "${td}", but this policy set is for "${trustDomain}"`,
    };
  }
  return { ok: true, pattern: { text, segments, exact } };
}

export function patternMatches(pattern: readonly string[], id: readonly string[]): boolean {
  return matchedPrefix(pattern, id) === Infinity;
}

/**
 * How many leading segments of `id` the pattern accepts; Infinity for a full match. Used to rank near misses.
 */
export function matchedPrefix(pattern: readonly string[], id: readonly string[]): number {
  let i = 0;
  for (; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === REST && i > 0) return id.length > i ? Infinity : i;
    if (i >= id.length) return i;
    if (p !== id[i] && !(p === ONE_SEGMENT && i > 0)) return i;
  }
  return id.length === pattern.length ? Infinity : i;
}

/** Whether the pattern allows every workload of its trust domain (`spiffe://td/**`). */
export function coversTrustDomain(pattern: IdPattern): boolean {
  return pattern.segments.length === 2 && pattern.segments[1] === REST;
}

/** Parses a pattern in whatever trust domain it names (for already-validated sets being compiled). */
export function parseOwnDomainPattern(text: string): PatternResult {
  return parseIdPattern(text, (splitId(text) ?? [''])[0] ?? '');
}
