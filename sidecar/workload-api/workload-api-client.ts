import * as grpc from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { SpiffeWorkloadAPIClient } from '../../proto/workload.ts';
import { SECURITY_HEADER } from './security-header.ts';

/** Where SPIFFE clients look for the Workload API (`unix:///path` or `unix:/path`), as the specification names it. */
export const ENDPOINT_ENV = 'SPIFFE_ENDPOINT_SOCKET';
export const DEFAULT_SOCKET = '/run/sigil/workload.sock';

/** `unix:///run/x.sock`, `unix:/run/x.sock` or a plain path → the socket path. */
export function socketPathOf(endpoint: string): string {
  const path = endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint.replace(/^unix:/, '');
  if (!path.startsWith('/'))
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `the Workload API address ${JSON.stringify(endpoint)} must be an absolute socket path or unix:///path`,
    );
  return path;
}

function failure(context: string, err: grpc.ServiceError): SigilError {
  const code =
    err.code === grpc.status.INVALID_ARGUMENT
      ? ErrorCode.INVALID_ARGUMENT
      : err.code === grpc.status.PERMISSION_DENIED
        ? ErrorCode.PEER_ID_MISMATCH
        : ErrorCode.UNAVAILABLE;
  const hint = err.code === grpc.status.UNAVAILABLE ? ' (is the sidecar running with workloadApi set?)' : '';
  return new SigilError(code, `${context}: ${err.details || err.message}${hint}`);
}

/** A Workload API client for scripts (`sigil jwt ...`): one call per method, the security header on each. */
export class WorkloadApiClient {
  readonly #client: SpiffeWorkloadAPIClient;
  readonly #timeoutMs: number;

  constructor(options: { socketPath: string; timeoutMs?: number }) {
    this.#client = new SpiffeWorkloadAPIClient(`unix:${options.socketPath}`, grpc.credentials.createInsecure());
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  close(): void {
    this.#client.close();
  }

  #metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set(SECURITY_HEADER, 'true');
    return metadata;
  }

  /** The first message of FetchX509SVID: the workload's SVID chain (DER, leaf first) and its PKCS#8 key. */
  fetchX509Svid(): Promise<{ spiffeId: string; chainDer: Uint8Array; keyPkcs8Der: Uint8Array }> {
    return new Promise((resolve, reject) => {
      const stream = this.#client.fetchX509SVID({}, this.#metadata(), { deadline: Date.now() + this.#timeoutMs });
      stream.once(
        'data',
        (response: { svids: { spiffeId?: string; x509Svid?: Uint8Array; x509SvidKey?: Uint8Array }[] }) => {
          const svid = response.svids[0];
          stream.removeAllListeners('error');
          stream.on('error', () => undefined);
          stream.cancel();
          if (!svid) reject(new SigilError(ErrorCode.INTERNAL, 'the Workload API returned no X.509-SVID'));
          else
            resolve({
              spiffeId: svid.spiffeId ?? '',
              chainDer: svid.x509Svid ?? new Uint8Array(),
              keyPkcs8Der: svid.x509SvidKey ?? new Uint8Array(),
            });
        },
      );
      stream.once('error', (err: grpc.ServiceError) => reject(failure('fetching the X.509-SVID', err)));
    });
  }

  fetchJwtSvid(audience: readonly string[]): Promise<{ spiffeId: string; token: string }> {
    return new Promise((resolve, reject) => {
      this.#client.fetchJWTSVID(
        { audience: [...audience] },
        this.#metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err, response) => {
          const svid = response?.svids[0];
          if (err) reject(failure('fetching a JWT-SVID', err));
          else if (!svid) reject(new SigilError(ErrorCode.INTERNAL, 'the Workload API returned no JWT-SVID'));
          else resolve({ spiffeId: svid.spiffeId ?? '', token: svid.svid ?? '' });
        },
      );
    });
  }

  validateJwtSvid(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      this.#client.validateJWTSVID(
        { svid: token, audience },
        this.#metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err, response) => {
          if (err || !response) reject(failure('validating the JWT-SVID', err as grpc.ServiceError));
          else resolve({ spiffeId: response.spiffeId, claims: fromStruct(response.claims?.fields ?? {}) });
        },
      );
    });
  }
}

type StructValue = {
  nullValue?: number | null;
  numberValue?: number | null;
  stringValue?: string | null;
  boolValue?: boolean | null;
  structValue?: { fields?: Record<string, StructValue> | null } | null;
  listValue?: { values?: StructValue[] | null } | null;
};

function fromStruct(fields: Record<string, StructValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fromValue(v)]));
}

function fromValue(v: StructValue): unknown {
  if (v.structValue) return fromStruct(v.structValue.fields ?? {});
  if (v.listValue) return (v.listValue.values ?? []).map(fromValue);
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.numberValue === 'number') return v.numberValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  return null;
}
