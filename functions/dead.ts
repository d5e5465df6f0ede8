// GET /v1/dead — dead letters: bounced messages whose notice to the sender failed for good, kept
// with their text until purged. DELETE /v1/dead/{id} and DELETE /v1/dead (all) purge them.
// Operators (signed) and admins (token).
import { authorizedRoute, limitOf } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { store } from './adapters/store.ts';
import { readableContent } from './core/held-message.ts';

export const listHandler = authorizedRoute('dead', undefined, async ({ query }) => {
  const page = await store.listDead({
    limit: limitOf(query.limit),
    ...(query.after ? { after: query.after } : {}),
  });
  return {
    status: 200,
    body: {
      messages: page.messages.map((message) => {
        let text: string | null = null;
        try {
          text = readableContent(message.contentType, message.body).text ?? null;
        } catch {
          text = null;
        }
        return {
          id: message.id,
          from: message.sender,
          to: message.recipient,
          body: text,
          contentType: message.contentType,
          receivedAt: message.receivedAt,
          bounce: message.bounce ?? null,
          reason: message.dead?.reason ?? '',
          deadAt: message.dead ? new Date(message.dead.at).toISOString() : null,
        };
      }),
      ...(page.next ? { next: page.next } : {}),
    },
  };
});

export const purgeOneHandler = authorizedRoute('deadPurgeOne', undefined, async ({ pathParameters }) => {
  const id = decodeURIComponent(pathParameters.id ?? '');
  const purged = await store.purgeDead({ id });
  logger.info('dead letters purged', { id, purged });
  return { status: 200, body: { purged } };
});

export const purgeAllHandler = authorizedRoute('deadPurgeAll', undefined, async () => {
  const purged = await store.purgeDead({ all: true });
  logger.info('dead letters purged', { all: true, purged });
  return { status: 200, body: { purged } };
});
