// Click-to-chat (docs/design.md "Click-to-chat"), for web pages on any origin:
//   POST /v1/chats                           {to, name, email?} → 201 {chatId, token, visitor, expiresAt, status}   (public)
//   POST /v1/chats/{chatId}/messages         {text} → 201 {line}   (that chat's token; functions/chat-lines.ts)
//   GET  /v1/chats/{chatId}/messages?after=  long poll (≤ 20 s, `wait` seconds) → 200 {chatId, to, visitor, status, lines, cursor}
//   OPTIONS on both paths: the CORS preflight (functions/cors.ts).
// Every answer, refusals included, carries the CORS headers (HOLDOVER_CORS_ORIGINS, default *: the
// token travels in the Authorization header, never in a cookie, so no origin gains anything by it).
// Rate limits per client address and per chat (in each function instance; API Gateway's route
// throttle caps the total): HOLDOVER_CHAT_START_RATE, HOLDOVER_CHAT_LINE_RATE a minute.
import type { Context } from 'aws-lambda';
import { InvalidRequestError, TooLargeError } from '../shared/errors.ts';
import { chatStartsPerMinute } from '../shared/settings.ts';
import * as z from '../shared/zod.ts';
import { chatPolicy } from './adapters/chat-policy.ts';
import {
  authorizedRoute,
  describeIssues,
  errorResult,
  type HttpEvent,
  type HttpResult,
  rawBody,
} from './adapters/http.ts';
import { count, logger } from './adapters/observability.ts';
import { signingSecrets } from './adapters/secret.ts';
import { chatStore, groupStore, store } from './adapters/store.ts';
import { readChat, StartChatSchema, startChat } from './core/chat.ts';
import { TokenBuckets, takeOrRefuse } from './core/rate-limit.ts';
import { corsHeaders } from './cors.ts';

/** A chat call's body is a name or a line: anything bigger is refused before it is parsed. */
const MAX_CHAT_BODY_BYTES = 16_384;
/** The longest a poll waits for something new (API Gateway's limit is 30 s). */
const MAX_WAIT_SECONDS = 20;

const startsPerClient = new TokenBuckets(chatStartsPerMinute());
const pollsPerChat = new TokenBuckets(120);

/** Adds the CORS headers to every answer, and refuses an oversized body before anything else. */
export function withCors(
  route: (event: HttpEvent, context?: Context) => Promise<HttpResult>,
): (event: HttpEvent, context?: Context) => Promise<HttpResult> {
  return async (event, context) => {
    const cors = corsHeaders(event);
    const result =
      rawBody(event).byteLength > MAX_CHAT_BODY_BYTES
        ? errorResult(
            'chat',
            new TooLargeError(`A chat request is at most ${MAX_CHAT_BODY_BYTES} bytes`),
            event.requestContext.requestId,
          )
        : await route(event, context);
    return { ...result, headers: { ...result.headers, ...cors } };
  };
}

export const startHandler = withCors(
  authorizedRoute('startChat', StartChatSchema, async ({ body, clientAddress }) => {
    takeOrRefuse(startsPerClient, clientAddress, Date.now(), 'chats started from this address');
    const chat = await startChat(body, {
      chats: chatStore,
      groups: groupStore,
      users: store,
      policy: chatPolicy,
      secrets: await signingSecrets(),
      now: Date.now,
    });
    count('chatStarted');
    logger.info('chat started', { chatId: chat.chatId, to: body.to });
    return { status: 201, body: chat };
  }),
);

const PollQuerySchema = z.object({
  after: z.optional(z.string().check(z.maxLength(64))),
  wait: z._default(z.coerce.number().check(z.int(), z.gte(0), z.lte(MAX_WAIT_SECONDS)), MAX_WAIT_SECONDS),
});

export const readHandler = withCors(
  authorizedRoute('chatRead', undefined, async ({ pathParameters, query }) => {
    const chatId = pathParameters.chatId ?? '';
    takeOrRefuse(pollsPerChat, chatId, Date.now(), 'reads of this chat');
    const parsed = PollQuerySchema.safeParse(query);
    if (!parsed.success) throw new InvalidRequestError(describeIssues(parsed.error));
    const { after, wait } = parsed.data;
    const view = await readChat(chatId, after, wait * 1000, {
      chats: chatStore,
      policy: chatPolicy,
      now: Date.now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      // one read of the chat a second while waiting: an answer shows within a second (docs/cost.md)
      pollMs: 1000,
    });
    return { status: 200, body: view };
  }),
);
