// GET /v1/users/{aor}/messages — a user's held messages, oldest first (operator, admin, or the user).

import { normalizeAor } from '../shared/aor.ts';
import { authorizedRoute, limitOf } from './adapters/http.ts';
import { store } from './adapters/store.ts';
import { heldView } from './core/held-message.ts';

export const heldHandler = authorizedRoute('held', undefined, async ({ pathParameters, query }) => {
  const recipient = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const limit = limitOf(query.limit);
  const page = await store.listHeld(recipient, {
    limit,
    ...(query.after ? { after: query.after } : {}),
  });
  return {
    status: 200,
    body: {
      messages: page.messages.map(heldView),
      ...(page.next ? { next: page.next } : {}),
    },
  };
});

// GET /v1/users/{aor}/summary — how many messages wait for a user (MWI, RFC 3842).
export const summaryHandler = authorizedRoute('summary', undefined, async ({ pathParameters }) => {
  const aor = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const user = await store.getUser(aor);
  return { status: 200, body: { aor, waiting: user.held } };
});
