import { createHash } from 'node:crypto';
import type { RandomBytes } from './templates.ts';

/**
 * A deterministic byte stream (SHA-256 in counter mode over `seed`) for tests that need reproducible serials.
 * Not a CSPRNG substitute: production code passes node:crypto randomBytes.
 */
export function seededRandomBytes(seed: string): RandomBytes {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (size) => {
    while (pool.length < size) {
      pool = Buffer.concat([pool, createHash('sha256').update(`${seed}:${counter++}`).digest()]);
    }
    const out = new Uint8Array(pool.subarray(0, size));
    pool = pool.subarray(size);
    return out;
  };
}
