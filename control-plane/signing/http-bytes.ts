import { nodeHttp } from '../../common/node-http.ts';
import { request as httpsRequest } from 'node:https';

/**
 * One HTTP exchange of bytes, with node:http rather than fetch: fetch refuses "bad ports" (the WHATWG list), and a
 * TSA or CRL endpoint may sit on any port. Rejects with the socket's error code (ECONNREFUSED, ...) or TIMEOUT.
 */
export interface HttpBytesResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Uint8Array;
}

const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export function httpBytes(
  url: URL,
  options: {
    readonly method: 'GET' | 'POST';
    readonly body?: Uint8Array;
    readonly headers?: Record<string, string>;
    readonly timeoutMs: number;
  },
): Promise<HttpBytesResponse> {
  const send = url.protocol === 'https:' ? httpsRequest : nodeHttp.request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: options.method,
        headers: { ...options.headers, ...(options.body ? { 'content-length': String(options.body.byteLength) } : {}) },
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > MAX_RESPONSE_BYTES)
            req.destroy(Object.assign(new Error('response too large'), { code: 'ETOOBIG' }));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
            body: new Uint8Array(Buffer.concat(chunks)),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'TIMEOUT' })),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
