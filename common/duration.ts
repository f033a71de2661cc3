import { ErrorCode, SigilError } from './errors.ts';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Parses human durations such as `15m`, `24h`, `1h30m`, `500ms`, `30d` into milliseconds.
 * Bare numbers are refused: a unit-less `60` is ambiguous in a config file.
 */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '') throw invalid(text);
  PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < input.length) {
    PART.lastIndex = pos;
    const m = PART.exec(input);
    if (!m) throw invalid(text);
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total) || total <= 0) throw invalid(text);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms % UNIT_MS.d === 0) return `${ms / UNIT_MS.d}d`;
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s}s`;
  return `${ms}ms`;
}

function invalid(text: string): SigilError {
  return new SigilError(
    ErrorCode.DURATION_INVALID,
    `invalid duration ${JSON.stringify(text)}: use a positive number with a unit (ms, s, m, h, d), e.g. 15m or 1h30m`,
  );
}
