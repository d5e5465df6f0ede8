// Random tokens for branches and tags (RFC 3261 §8.1.1.7, §19.3): drawn from a pool the kernel's
// CSPRNG refills, so a delivery does not pay a crypto call per MESSAGE.
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let used = pool.length;

/** `bytes` fresh random bytes as hex; no byte of the pool is handed out twice. */
export function randomHex(bytes: number): string {
  if (bytes > pool.length) throw new RangeError(`at most ${pool.length} random bytes at once`);
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}
