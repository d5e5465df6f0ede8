// GET/PUT /v1/users/{aor}/settings — a user's hold states, expiry, email, notices, vacation
// (signed operator/provisioning call). PUT replaces the whole settings object.

import { normalizeAor } from '../shared/aor.ts';
import { UserSettingsSchema } from '../shared/contract/settings.ts';
import { authorizedRoute } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { store } from './adapters/store.ts';

const aorOf = (pathParameters: Record<string, string>) =>
  normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));

export const getHandler = authorizedRoute('getSettings', undefined, async ({ pathParameters }) => {
  const aor = aorOf(pathParameters);
  return { status: 200, body: { aor, settings: (await store.getSettings(aor)) ?? {} } };
});

export const putHandler = authorizedRoute(
  'putSettings',
  UserSettingsSchema,
  async ({ body: settings, pathParameters }) => {
    const aor = aorOf(pathParameters);
    await store.putSettings(aor, settings);
    logger.info('settings changed', { aor, fields: Object.keys(settings) });
    return { status: 200, body: { aor, settings } };
  },
);
