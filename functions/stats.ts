// GET /v1/stats — counts by state and the oldest held message (operator call, signed).
import { authorizedRoute } from './adapters/http.ts';
import { store } from './adapters/store.ts';

export const handler = authorizedRoute('stats', undefined, async () => ({
  status: 200,
  body: await store.stats(),
}));
