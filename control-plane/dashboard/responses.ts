import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Every response's headers. The CSP allows the bundle served from here and nothing else: no inline script or
 * style, no other origin, no framing. HSTS only on HTTPS (browsers ignore it on plain HTTP anyway).
 */
export function securityHeaders(https: boolean): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "font-src 'self'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': 'no-store',
    ...(https ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {}),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' });
  res.end(`${JSON.stringify(body)}\n`);
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page a person can read: what went wrong and what to do. Self-contained, no script, no asset. */
export function refusalPage(title: string, message: string, requestId: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sigil dashboard: ${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
<p>To sign in, run <code>sigil dashboard login</code> with an admin credential and open the link it prints.</p>
<p><small>Request ${escapeHtml(requestId)}</small></p></main></body></html>
`;
}

/** HTML for browsers navigating, JSON for the pages' API calls. */
export function wantsHtml(req: IncomingMessage): boolean {
  return !(req.url ?? '/').startsWith('/api/') && (req.headers.accept ?? '').includes('text/html');
}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new RangeError(`request body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
