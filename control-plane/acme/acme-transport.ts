import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { rootCertificates } from 'node:tls';
import { Agent } from 'node:https';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseRetryAfter } from './acme-problem.ts';

/** Per-request time limit: an ACME call that hangs longer is an outage, retried by the renewal loop's backoff. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * How Sigil talks HTTP to ACME servers through acme-client. The library sends every request through one shared
 * axios instance, retries network errors, 429 and 5xx itself (sleeping up to Retry-After inside the call, which
 * could hold a renewal for hours) and then reports them as message-only errors. Sigil installs one adapter on that
 * instance instead:
 * - trust per directory origin (a private ACME CA or pebble's test listener), the system roots otherwise;
 * - network errors, 429 and 5xx become SigilErrors at once (ACME_UNREACHABLE, ACME_RATE_LIMITED, ACME_SERVER) with
 *   the problem document and Retry-After, which the renewal loop turns into its capped backoff. The errors carry no
 *   `config`, so the library's retry interceptor passes them through untouched.
 * badNonce answers are still retried by the library with the fresh nonce from the error response (RFC 8555 6.5).
 */
// Module state because the library's axios instance is process-wide: one adapter, one trust map.
let installed: Promise<AcmeLibrary> | undefined;
const agents = new Map<string, Agent>();

export type AcmeLibrary = typeof import('acme-client');
type Axios = typeof import('axios').default;

/**
 * acme-client (with axios) on first use, its transport installed: a control plane that never talks to an ACME
 * server (most of them) never loads it, which saves every start about 20 MB and a few hundred milliseconds.
 */
export function acmeLibrary(): Promise<AcmeLibrary> {
  installed ??= Promise.all([import('acme-client'), import('axios')]).then(([loaded, axios]) => {
    // A CommonJS module: its exports are the default export at run time, whatever the type declarations say.
    const acme = ((loaded as { default?: AcmeLibrary }).default ?? loaded) as AcmeLibrary;
    install(acme, axios.default);
    return acme;
  });
  return installed;
}

/** Trusts `caPem` (instead of the system roots) for HTTPS to `directoryUrl`'s origin; undefined: system roots. */
export async function trustAcmeDirectory(directoryUrl: string, caPem: string | undefined): Promise<void> {
  await acmeLibrary();
  const origin = new URL(directoryUrl).origin;
  agents.get(origin)?.destroy();
  agents.set(origin, new Agent({ ca: caPem ?? [...rootCertificates], keepAlive: true, minVersion: 'TLSv1.2' }));
}

/** An unsigned GET (directory, renewalInfo) with the same trust and error mapping. */
export async function acmeGet(url: string): Promise<AxiosResponse> {
  const acme = await acmeLibrary();
  return acme.axios.request({ url, method: 'get', validateStatus: null });
}

function install(acme: AcmeLibrary, axios: Axios): void {
  const http = axios.getAdapter('http');
  acme.axios.interceptors.request.use((config: InternalAxiosRequestConfig) => {
    const origin = config.url ? new URL(config.url).origin : '';
    const agent = agents.get(origin);
    if (agent) config.httpsAgent = agent;
    config.timeout = REQUEST_TIMEOUT_MS;
    config.adapter = mapErrors(http, axios);
    return config;
  });
}

function mapErrors(http: AxiosAdapter, axios: Axios): AxiosAdapter {
  return async (config: InternalAxiosRequestConfig) => {
    const where = describe(config);
    let response: AxiosResponse;
    try {
      response = await http(config);
    } catch (err) {
      const failed = (err as { response?: AxiosResponse }).response;
      if (!failed) {
        const code = (err as NodeJS.ErrnoException).code ?? 'network error';
        throw new SigilError(
          ErrorCode.ACME_UNREACHABLE,
          `the ACME server is unreachable (${code} on ${where}): check the directory URL, DNS, firewall and its TLS trust (caFile)`,
        );
      }
      response = failed;
    }
    const retryAfterMs = parseRetryAfter(header(response, 'retry-after'), Date.now());
    const problem = problemOf(response.data);
    const detail = typeof problem?.detail === 'string' ? `: ${problem.detail}` : '';
    const details = { status: response.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    if (response.status === 429 || problem?.type === 'urn:ietf:params:acme:error:rateLimited') {
      throw new SigilError(
        ErrorCode.ACME_RATE_LIMITED,
        `the ACME server rate-limits this client (${where}${detail}); Sigil waits${retryAfterMs !== undefined ? ` ${Math.ceil(retryAfterMs / 1000)} s as it asked` : ''} before trying again`,
        { details },
      );
    }
    if (response.status >= 500) {
      throw new SigilError(
        ErrorCode.ACME_SERVER,
        `the ACME server failed with HTTP ${response.status} (${where}${detail}); Sigil retries with backoff`,
        { details },
      );
    }
    // Other statuses go back to acme-client, which reads problem documents and retries badNonce.
    if (config.validateStatus && !config.validateStatus(response.status)) {
      throw new axios.AxiosError(
        `HTTP ${response.status}`,
        axios.AxiosError.ERR_BAD_REQUEST,
        config,
        response.request,
        response,
      );
    }
    return response;
  };
}

/** Response bodies reach an adapter before axios parses them. */
function problemOf(data: unknown): { type?: string; detail?: string } | undefined {
  if (typeof data === 'object' && data !== null && !Buffer.isBuffer(data)) return data as { type?: string };
  try {
    const parsed: unknown = JSON.parse(String(data));
    return typeof parsed === 'object' && parsed !== null ? (parsed as { type?: string; detail?: string }) : undefined;
  } catch {
    return undefined;
  }
}

function describe(config: InternalAxiosRequestConfig): string {
  return `${(config.method ?? 'get').toUpperCase()} ${config.url ?? '?'}`;
}

function header(response: AxiosResponse, name: string): string | undefined {
  const value = (response.headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
