/** RFC 7807 problem documents as ACME servers send them (RFC 8555 6.7), and Retry-After. Pure. */
export interface AcmeProblem {
  readonly type?: string;
  readonly detail?: string;
  readonly status?: number;
  readonly subproblems?: readonly AcmeProblem[];
  readonly identifier?: { readonly type?: string; readonly value?: string };
}

const PREFIX = 'urn:ietf:params:acme:error:';

/** One line: `type (HTTP status): detail`, subproblems appended with their identifiers. */
export function describeProblem(problem: AcmeProblem | undefined): string {
  if (problem === undefined || problem === null || typeof problem !== 'object') return 'no problem document';
  const type = typeof problem.type === 'string' ? problem.type.replace(PREFIX, '') : 'unknown problem';
  const status = typeof problem.status === 'number' ? ` (HTTP ${problem.status})` : '';
  const detail = typeof problem.detail === 'string' && problem.detail !== '' ? `: ${problem.detail}` : '';
  const subs = Array.isArray(problem.subproblems)
    ? problem.subproblems.map((s) => `; ${s.identifier?.value ?? '?'}: ${describeProblem(s)}`).join('')
    : '';
  return `${type}${status}${detail}${subs}`.replace(/\s+/g, ' ');
}

/**
 * Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date, as milliseconds from `now`; undefined when absent
 * or unreadable. A date in the past means zero.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
