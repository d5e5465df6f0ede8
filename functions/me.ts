// A signed-in person's own data (bearer token; the AOR is the token's, never the request's):
//   GET /v1/me                → {aor, role, held, settings, presence, expiresAt?}
//   GET /v1/me/messages       → {messages: [...], next?}  as GET /v1/users/{aor}/messages
//   GET /v1/me/settings       → {aor, settings}
//   PUT /v1/me/settings       the whole settings object (UserSettingsSchema); 400 names each field

import { UserSettingsSchema } from '../shared/contract/settings.ts';
import { ForbiddenError } from '../shared/errors.ts';
import { authorizedRoute, type Identity, limitOf } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { store } from './adapters/store.ts';
import { heldView } from './core/held-message.ts';
import { effectivePresence } from './core/presence.ts';

function person(caller: Identity): Extract<Identity, { kind: 'token' }> {
  if (caller.kind !== 'token') throw new ForbiddenError('This route is for a signed-in person');
  return caller;
}

export const meHandler = authorizedRoute('me', undefined, async ({ caller }) => {
  const me = person(caller);
  const user = await store.getUser(me.aor);
  return {
    status: 200,
    body: {
      aor: me.aor,
      role: me.role,
      held: user.held,
      settings: user.settings ?? {},
      presence: effectivePresence(user.presence, Date.now()).state,
      ...(me.expiresAtMs ? { expiresAt: new Date(me.expiresAtMs).toISOString() } : {}),
    },
  };
});

export const messagesHandler = authorizedRoute('myMessages', undefined, async ({ caller, query }) => {
  const me = person(caller);
  const page = await store.listHeld(me.aor, {
    limit: limitOf(query.limit),
    ...(query.after ? { after: query.after } : {}),
  });
  return {
    status: 200,
    body: { messages: page.messages.map(heldView), ...(page.next ? { next: page.next } : {}) },
  };
});

export const getSettingsHandler = authorizedRoute('getMySettings', undefined, async ({ caller }) => {
  const me = person(caller);
  return { status: 200, body: { aor: me.aor, settings: (await store.getSettings(me.aor)) ?? {} } };
});

export const putSettingsHandler = authorizedRoute(
  'putMySettings',
  UserSettingsSchema,
  async ({ caller, body: settings }) => {
    const me = person(caller);
    await store.putSettings(me.aor, settings);
    logger.info('settings changed by the user', { aor: me.aor, fields: Object.keys(settings) });
    return { status: 200, body: { aor: me.aor, settings } };
  },
);
