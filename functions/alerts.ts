// GET /v1/alerts — alerts from email, newest first, each with its members' outcomes (delivering,
// held, delivered, emailed, dropped, failed). ?group=<aor> for one group's; paged like /v1/dead
// (?limit=1..1000&after=<cursor>). Operators (signed) and admins (token).

import { normalizeAor } from '../shared/aor.ts';
import { authorizedRoute, limitOf } from './adapters/http.ts';
import { alertStore } from './adapters/store.ts';

export const listHandler = authorizedRoute('listAlerts', undefined, async ({ query }) => {
  const page = await alertStore.listAlerts({
    limit: limitOf(query.limit),
    ...(query.group ? { group: normalizeAor(query.group) } : {}),
    ...(query.after ? { after: query.after } : {}),
  });
  return { status: 200, body: page };
});
