// The dashboard's calls to its control plane: same origin, the session cookie, the CSRF token on every change.
let csrfToken = '';

export function setCsrfToken(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `request failed with HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? '';
  }
}

async function answer(res) {
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export async function get(path) {
  return answer(await fetch(path, { headers: { accept: 'application/json' } }));
}

export async function post(path, body) {
  return answer(
    await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-sigil-csrf': csrfToken },
      body: JSON.stringify(body),
    }),
  );
}
