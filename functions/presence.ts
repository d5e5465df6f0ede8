// POST /v1/presence — a presence change from the edge (REGISTER, PUBLISH) or another system
// (an MSPL/UCMA bridge, an XMPP gateway), signed. Thin: parse → updatePresence → result.

import { PresenceUpdateSchema } from '../shared/contract/presence.ts';
import { authorizedRoute } from './adapters/http.ts';
import { count, logger } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { groupStore, store } from './adapters/store.ts';
import { updatePresence } from './core/presence.ts';

const deps = { users: store, groups: groupStore, queue: deliveryQueue, now: Date.now };

export const handler = authorizedRoute('presence', PresenceUpdateSchema, async ({ body: update }) => {
  const result = await updatePresence(update, deps);
  count('presenceChanged');
  if (result.delivery === 'queued') count('deliveryRunsQueued');
  logger.info('presence changed', {
    aor: update.aor,
    source: update.source,
    state: result.state,
    delivery: result.delivery,
  });
  return { status: 200, body: result };
});
