// Groups (operator calls, signed): distribution lists and queues (docs/design.md "Groups").
//   PUT    /v1/groups/{aor}   {members, routing, public?, email?, alertSenders?} → the group
//   GET    /v1/groups/{aor}   → the group, or 404
//   GET    /v1/groups         → {groups: [...], next?}   (?limit=1..1000&after=<aor>)
//   DELETE /v1/groups/{aor}   → {aor, removed: true}, or 404

import { normalizeAor } from '../shared/aor.ts';
import { InvalidRequestError, NotFoundError } from '../shared/errors.ts';
import { servedDomains } from '../shared/settings.ts';
import * as z from '../shared/zod.ts';
import { authorizedRoute } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { groupStore } from './adapters/store.ts';
import { GroupInputSchema, setGroup } from './core/groups.ts';

const domains = new Set(servedDomains());
const LimitSchema = z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(1000)), 100);

const aorOf = (pathParameters: Record<string, string>) =>
  normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));

export const putHandler = authorizedRoute('putGroup', GroupInputSchema, async ({ body, pathParameters }) => {
  const group = await setGroup(
    groupStore,
    decodeURIComponent(pathParameters.aor ?? ''),
    body,
    domains,
    Date.now(),
  );
  logger.info('group set', { aor: group.aor, routing: group.routing, members: group.members.length });
  return { status: 200, body: group };
});

export const getHandler = authorizedRoute('getGroup', undefined, async ({ pathParameters }) => {
  const aor = aorOf(pathParameters);
  const group = await groupStore.getGroup(aor);
  if (!group) throw new NotFoundError(`${aor} is not a group`);
  return { status: 200, body: group };
});

export const listHandler = authorizedRoute('listGroups', undefined, async ({ query }) => {
  const limit = LimitSchema.safeParse(query.limit);
  if (!limit.success) throw new InvalidRequestError('limit must be a whole number from 1 to 1000');
  const page = await groupStore.listGroups({
    limit: limit.data,
    ...(query.after ? { after: normalizeAor(query.after) } : {}),
  });
  return { status: 200, body: page };
});

export const deleteHandler = authorizedRoute('deleteGroup', undefined, async ({ pathParameters }) => {
  const aor = aorOf(pathParameters);
  if (!(await groupStore.removeGroup(aor))) throw new NotFoundError(`${aor} is not a group`);
  logger.info('group removed', { aor });
  return { status: 200, body: { aor, removed: true } };
});
