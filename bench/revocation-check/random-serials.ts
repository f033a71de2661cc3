import { randomBytes } from 'node:crypto';

/** `count` serials of the width the CA issues (16 random bytes), uppercase hex as Node reports a peer's. */
export function randomSerials(count: number): string[] {
  return Array.from({ length: count }, () => randomBytes(16).toString('hex').toUpperCase());
}
