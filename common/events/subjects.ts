import { ErrorCode, SigilError } from '../errors.ts';
import { parseTrustDomain } from '../spiffe-id.ts';

/**
 * NATS subjects of the event channel (DESIGN.md section 5): `sigil.<trust-domain token>.<kind>`.
 *
 * NATS splits subjects on '.', and trust domains contain dots, so the trust domain is escaped into ONE token,
 * percent-style: '%' becomes '%25' and '.' becomes '%2E' ("example.org" → "example%2Eorg"). Any other character
 * a trust domain may hold ([a-z0-9_-]) is a legal subject character and is kept, so the token stays readable,
 * and the escaping is reversible (decodeTrustDomainToken). Replacing '.' by '_' would not be: '_' is allowed in
 * trust domains too. Subjects are only ever built here, never concatenated at call sites.
 */

export const EVENT_KINDS = ['bundle', 'revocation', 'policy', 'rotate', 'alert', 'audit'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** The kinds a sidecar acts on: it subscribes to these subjects only, so alert traffic never reaches it. */
export const SIDECAR_EVENT_KINDS = ['bundle', 'revocation', 'policy', 'rotate'] as const satisfies readonly EventKind[];

const PREFIX = 'sigil';

export function isEventKind(text: string): text is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(text);
}

/** The single subject token for a trust domain. Throws SPIFFE_ID_INVALID for an invalid trust domain. */
export function encodeTrustDomainToken(trustDomain: string): string {
  return parseTrustDomain(trustDomain).replaceAll('%', '%25').replaceAll('.', '%2E');
}

/** The inverse of encodeTrustDomainToken; throws INVALID_ARGUMENT for a token it could not have produced. */
export function decodeTrustDomainToken(token: string): string {
  const invalid = (): never => {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `subject token ${JSON.stringify(token)} is not an escaped trust domain ('.' is written %2E)`,
    );
  };
  let out = '';
  for (let i = 0; i < token.length; i++) {
    const c = token[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const encoded = token.slice(i, i + 3);
    if (encoded === '%2E') out += '.';
    else if (encoded === '%25') out += '%';
    else invalid();
    i += 2;
  }
  try {
    parseTrustDomain(out);
  } catch {
    invalid();
  }
  // Only the canonical spelling is accepted, so one trust domain has exactly one subject.
  if (encodeTrustDomainToken(out) !== token) invalid();
  return out;
}

export function eventSubject(trustDomain: string, kind: EventKind): string {
  return `${PREFIX}.${encodeTrustDomainToken(trustDomain)}.${kind}`;
}

/** Every event kind of one trust domain, for one subscription. */
export function eventWildcard(trustDomain: string): string {
  return `${PREFIX}.${encodeTrustDomainToken(trustDomain)}.>`;
}

/** The trust domain and kind of an event subject, or undefined for any other subject. */
export function parseEventSubject(
  subject: string,
): { readonly trustDomain: string; readonly kind: EventKind } | undefined {
  const tokens = subject.split('.');
  if (tokens.length !== 3 || tokens[0] !== PREFIX) return undefined;
  const [, token = '', kind = ''] = tokens;
  if (!isEventKind(kind)) return undefined;
  try {
    return { trustDomain: decodeTrustDomainToken(token), kind };
  } catch {
    return undefined;
  }
}
