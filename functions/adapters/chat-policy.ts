// The chat settings, read once (functions/core/chat.ts ChatPolicy): the visitor AORs' domain (the
// first served domain), when a quiet chat ends, how long a chat token lives, how long a chat is kept.
import { chatIdleMs, chatLifetimeMs, chatRetainMs, servedDomains } from '../../shared/settings.ts';
import type { ChatPolicy } from '../core/chat.ts';

export const chatPolicy: ChatPolicy = {
  visitorDomain: servedDomains()[0] ?? 'example.com',
  idleMs: chatIdleMs(),
  lifetimeMs: chatLifetimeMs(),
  retainMs: chatRetainMs(),
};
