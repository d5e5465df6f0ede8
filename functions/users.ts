// GET /v1/users/{aor}/messages — a user's held messages, oldest first (operator call, signed).
import { z } from 'zod';
import { signedRoute } from './adapters/http.ts';
import { messageStore } from './adapters/store.ts';
import { normalizeAor } from './core/aor.ts';
import { readableContent } from './core/held-message.ts';

const LimitSchema = z.coerce.number().int().min(1).max(1000).default(100);

export const heldHandler = signedRoute('held', undefined, async ({ pathParameters, query }) => {
  const recipient = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const limit = LimitSchema.parse(query.limit);
  const page = await messageStore.listHeld(recipient, {
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
