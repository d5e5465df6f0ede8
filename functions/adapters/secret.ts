// The edge⇄API signing secret. Read once per process (cold start) and cached.
import { requireEnv } from './env.ts';

let cached: string | undefined;

export function signingSecret(): string {
  cached ??= requireEnv('HOLDOVER_SECRET');
  return cached;
}
