import { describe, expect, it } from 'vitest';
import { randomHex } from '../../edge/sip/random.ts';

describe('randomHex (branches and tags)', () => {
  it('hands out fresh hex of the asked length, also across pool refills', () => {
    const seen = new Set<string>();
    // 4096-byte pool: 2000 draws of 8 bytes refill it several times
    for (let i = 0; i < 2000; i++) {
      const hex = randomHex(8);
      expect(hex).toMatch(/^[0-9a-f]{16}$/);
      seen.add(hex);
    }
    expect(seen.size).toBe(2000);
    expect(randomHex(4095)).toHaveLength(8190);
  });

  it('refuses more than the pool holds', () => {
    expect(() => randomHex(5000)).toThrow(RangeError);
  });
});
