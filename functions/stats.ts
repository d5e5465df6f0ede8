// GET /v1/stats — counts by state and the oldest held message (operator call, signed).
import { signedRoute } from './adapters/http.ts';
import { store } from './adapters/store.ts';

export const handler = signedRoute('stats', undefined, async () => ({
  status: 200,
  body: await store.stats(),
}));
