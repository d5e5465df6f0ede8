// SIP credentials of people (operator calls, signed): set a password (stored as HA1 hashes only),
// remove it, list who has one; and the edge's read of a user's hashes to check a digest answer.
//   PUT    /v1/users/{aor}/credentials   {password, admin?} → {aor, realm, admin, createdAt, updatedAt}
//   DELETE /v1/users/{aor}/credentials   → 204-like {aor, removed: true} or 404
//   GET    /v1/users                     → {users: [{aor, admin, createdAt, updatedAt}], next?}
//   GET    /v1/credentials/{aor}         → {aor, realm, ha1: {"SHA-256", MD5}, admin} or 404 (the edge)

import { normalizeAor } from '../shared/aor.ts';
import { NotFoundError } from '../shared/errors.ts';
import { servedDomains } from '../shared/settings.ts';
import { authorizedRoute, limitOf } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { credentialStore } from './adapters/store.ts';
import { SetCredentialsSchema, setCredentials } from './core/credentials.ts';

const domains = servedDomains();

const aorOf = (pathParameters: Record<string, string>) =>
  normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));

export const putHandler = authorizedRoute(
  'putCredentials',
  SetCredentialsSchema,
  async ({ body, pathParameters }) => {
    const stored = await setCredentials(credentialStore, aorOf(pathParameters), body, domains);
    logger.info('credentials set', { aor: stored.aor, admin: stored.admin });
    const { ha1: _hashes, ...shown } = stored;
    return { status: 200, body: shown };
  },
);

export const deleteHandler = authorizedRoute('deleteCredentials', undefined, async ({ pathParameters }) => {
  const aor = aorOf(pathParameters);
  if (!(await credentialStore.deleteCredentials(aor))) {
    throw new NotFoundError(`${aor} has no credentials`);
  }
  logger.info('credentials removed', { aor });
  return { status: 200, body: { aor, removed: true } };
});

export const listHandler = authorizedRoute('listUsers', undefined, async ({ query }) => {
  const page = await credentialStore.listUsers({
    limit: limitOf(query.limit),
    ...(query.after ? { after: normalizeAor(query.after) } : {}),
  });
  return { status: 200, body: page };
});

export const getHandler = authorizedRoute('getCredentials', undefined, async ({ pathParameters }) => {
  const aor = aorOf(pathParameters);
  const stored = await credentialStore.getCredentials(aor);
  if (!stored) throw new NotFoundError(`${aor} has no credentials`);
  return { status: 200, body: { aor, realm: stored.realm, ha1: stored.ha1, admin: stored.admin } };
});
