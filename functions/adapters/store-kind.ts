// Which store adapter a process uses (HOLDOVER_STORE), read on its own so that the local runtime
// can check it at start without wiring a store.
import { envOr } from '../../shared/env.ts';

export const STORE_KINDS = ['sqlite', 'dynamodb'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** HOLDOVER_STORE, checked: a bad value stops the start with its name. */
export function storeKindFromEnv(fallback: StoreKind): StoreKind {
  const value = envOr('HOLDOVER_STORE', fallback);
  if (!(STORE_KINDS as readonly string[]).includes(value)) {
    throw new Error(`HOLDOVER_STORE must be sqlite or dynamodb, got "${value}"`);
  }
  return value as StoreKind;
}
