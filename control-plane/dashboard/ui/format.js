import htm from 'htm';
import { h } from 'preact';

export const html = htm.bind(h);

/** Milliseconds from a number or an ISO string (the fleet view sends dates). */
export const ms = (value) => (value === null || value === undefined || value === '' ? 0 : new Date(value).getTime());

export function time(value) {
  if (!value) return '—';
  return new Date(value)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function relative(value, now = Date.now()) {
  if (!value) return '—';
  const d = ms(value) - now;
  const abs = Math.abs(d);
  const unit =
    abs >= 86_400_000
      ? [86_400_000, 'd']
      : abs >= 3_600_000
        ? [3_600_000, 'h']
        : abs >= 60_000
          ? [60_000, 'min']
          : [1000, 's'];
  const n = Math.round(abs / unit[0]);
  return d >= 0 ? `in ${n} ${unit[1]}` : `${n} ${unit[1]} ago`;
}

export function ErrorNote({ error }) {
  return error ? html`<p class="error" role="alert">${error.message}</p>` : null;
}

export function Loading({ data, error }) {
  if (error && !data) return html`<${ErrorNote} error=${error} />`;
  return data ? null : html`<p class="muted">Loading…</p>`;
}
