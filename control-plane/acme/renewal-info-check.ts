import { isSigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { AcmeDirectory } from './acme-accounts.ts';
import { parseRetryAfter } from './acme-problem.ts';
import type { AcmeCertificateState } from './acme-state.ts';
import { acmeGet } from './acme-transport.ts';
import { parseRenewalInfo } from './renewal-info.ts';
import { nextAriCheckAt, planRenewal } from './renewal-schedule.ts';

/**
 * Fetches renewal information (RFC 9773 4) for the certificate in service when the directory offers it and the last
 * answer's Retry-After has passed. The moment inside a new window is drawn here, once, and kept in the state. A
 * failed or malformed answer keeps what was known before (or the lifetime rule) and is tried again later: ARI only
 * advises, it never blocks a renewal.
 */
export async function checkRenewalInfo(
  directory: AcmeDirectory,
  state: AcmeCertificateState,
  now: number,
  deps: { readonly logger: Logger; readonly random: () => number },
  name: string,
): Promise<AcmeCertificateState> {
  const current = state.current;
  if (directory.renewalInfo === undefined || current === undefined) return state;
  if (state.ari !== undefined && now < state.ari.nextCheckAt) return state;
  const url = `${directory.renewalInfo.replace(/\/$/, '')}/${current.certId}`;
  try {
    const response = await acmeGet(url);
    const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'), now);
    const info = response.status === 200 ? parseRenewalInfo(response.data) : undefined;
    if (info === undefined) {
      deps.logger.warn(
        { acme_certificate: name, status: response.status },
        'ACME renewal information unusable; the lifetime rule applies until the next check',
      );
      return { ...state, ari: { ...state.ari, nextCheckAt: nextAriCheckAt(now, retryAfterMs) } };
    }
    const plan = planRenewal({
      certificate: current,
      ari: info.window,
      previous: state.ari?.chosen,
      random: deps.random,
    });
    return {
      ...state,
      ari: {
        window: info.window,
        ...(plan.chosen ? { chosen: plan.chosen } : {}),
        ...(info.explanationUrl !== undefined ? { explanationUrl: info.explanationUrl } : {}),
        nextCheckAt: nextAriCheckAt(now, retryAfterMs),
      },
    };
  } catch (err) {
    deps.logger.warn(
      {
        acme_certificate: name,
        err_code: isSigilError(err) ? err.code : 'unknown',
        msg_detail: (err as Error).message,
      },
      'ACME renewal information not available; the last known window or the lifetime rule applies',
    );
    const retryAfterMs =
      isSigilError(err) && typeof err.details['retryAfterMs'] === 'number' ? err.details['retryAfterMs'] : undefined;
    return { ...state, ari: { ...state.ari, nextCheckAt: nextAriCheckAt(now, retryAfterMs) } };
  }
}

function header(headers: unknown, name: string): string | undefined {
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
