// POST /v1/chats/{chatId}/messages {text} → 201 {line} — a web visitor's line (that chat's token):
// captured as a MESSAGE From the chat's visitor AOR to its user or group (functions/core/chat.ts
// postLine), with capture's own dependencies, so it is held or delivered like any other message.
// Rate-limited per chat and per client address (HOLDOVER_CHAT_LINE_RATE a minute). A function of
// its own: only it may queue delivery runs and write held messages.
import { monotonicFactory } from 'ulid';
import { chatLinesPerMinute } from '../shared/settings.ts';
import { captureDeps } from './adapters/capture-deps.ts';
import { chatPolicy } from './adapters/chat-policy.ts';
import { authorizedRoute } from './adapters/http.ts';
import { count, logger } from './adapters/observability.ts';
import { chatStore } from './adapters/store.ts';
import { withCors } from './chats.ts';
import { ChatTextSchema, postLine } from './core/chat.ts';
import { TokenBuckets, takeOrRefuse } from './core/rate-limit.ts';

const lineRate = chatLinesPerMinute();
const linesPerChat = new TokenBuckets(lineRate, Math.min(lineRate, 5));
const linesPerClient = new TokenBuckets(lineRate * 3);
const ulid = monotonicFactory();

export const postLineHandler = withCors(
  authorizedRoute('chatPostLine', ChatTextSchema, async ({ body, pathParameters, clientAddress }) => {
    const chatId = pathParameters.chatId ?? '';
    takeOrRefuse(linesPerChat, chatId, Date.now(), 'lines in this chat');
    takeOrRefuse(linesPerClient, clientAddress, Date.now(), 'lines from this address');
    const line = await postLine(chatId, body.text, {
      chats: chatStore,
      capture: captureDeps,
      policy: chatPolicy,
      now: Date.now,
      newId: () => ulid(),
    });
    count('chatLine');
    logger.info('chat line captured', { chatId, lineId: line.id });
    return { status: 201, body: { line } };
  }),
);
