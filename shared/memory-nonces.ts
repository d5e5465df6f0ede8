// The NonceStore of a single process (the SIP edge): a bounded map of nonce → end of its window.
// Expired entries are dropped as new ones arrive; when the map is full of live nonces a claim
// fails loudly (the caller answers 5xx) rather than forgetting one that could then be replayed.
import type { NonceStore } from './signature.ts';

export class MemoryNonces implements NonceStore {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly capacity = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  claim(nonce: string, untilMs: number): Promise<boolean> {
    const now = this.now();
    const known = this.until.get(nonce);
    if (known !== undefined && known >= now) return Promise.resolve(false);
    if (this.until.size >= this.capacity) this.dropExpired(now);
    if (this.until.size >= this.capacity) {
      return Promise.reject(
        new Error(`more than ${this.capacity} signed calls within the signature window; try again later`),
      );
    }
    this.until.delete(nonce);
    this.until.set(nonce, untilMs);
    return Promise.resolve(true);
  }

  get size(): number {
    return this.until.size;
  }

  private dropExpired(now: number): void {
    for (const [nonce, until] of this.until) if (until < now) this.until.delete(nonce);
  }
}
