import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * Sigil's version, from the repository's package.json (found from the sources and from dist/, whose own
 * package.json has none). '' when it cannot be read: a version is reported, never relied upon.
 */
export function sigilVersion(): string {
  if (cached !== undefined) return cached;
  cached = '';
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const version = (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version?: unknown }).version;
      if (typeof version === 'string') {
        cached = version;
        break;
      }
    } catch {
      // Not there: try the next level up.
    }
  }
  return cached;
}
