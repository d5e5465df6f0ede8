// GET /v1/users/{aor}/messages — a user's held messages, oldest first (operator call, signed).
import * as z from 'zod';
import { signedRoute } from './adapters/http.ts';
import { store } from './adapters/store.ts';
import { normalizeAor } from './core/aor.ts';
import { readableContent } from './core/held-message.ts';

const LimitSchema = z.coerce.number().int().min(1).max(1000).default(100);

export const heldHandler = signedRoute('held', undefined, async ({ pathParameters, query }) => {
  const recipient = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const limit = LimitSchema.parse(query.limit);
  const page = await store.listHeld(recipient, {
    limit,
    ...(query.after ? { after: query.after } : {}),
  });
  return {
    status: 200,
    body: {
      messages: page.messages.map((message) => {
        const content = readableContent(message.contentType, message.body);
        return {
          id: message.id,
          from: message.sender,
          ...(message.senderName ? { fromName: message.senderName } : {}),
          to: message.recipient,
          body: content.text ?? null,
          contentType: message.contentType,
          ...(content.mediaType !== message.contentType ? { innerContentType: content.mediaType } : {}),
          receivedAt: message.receivedAt,
          expiresAt: message.expiresAt,
          state: message.state,
        };
      }),
      ...(page.next ? { next: page.next } : {}),
    },
  };
});

// GET /v1/users/{aor}/summary — how many messages wait for a user (MWI, RFC 3842).
export const summaryHandler = signedRoute('summary', undefined, async ({ pathParameters }) => {
  const aor = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const user = await store.getUser(aor);
  return { status: 200, body: { aor, waiting: user.held } };
});
